import HummingbirdCore
import Logging
import NIOCore

/// Closes a new connection that has not sent a complete request head within `timeout`
/// (APITimeoutRead). Hummingbird's own idle timeout starts only once the first request has
/// been parsed, so without this a client that connects and sends nothing, or trickles in a
/// header a byte at a time, holds a connection for ever. It sits after TLS (it sees the plain
/// bytes, and a handshake that never ends counts as no head) and leaves the pipeline once the
/// head's blank line has arrived.
struct RequestHeadDeadline<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(HeadDeadlineHandler(timeout: timeout))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The channel handler of `RequestHeadDeadline`: a timer from activation, and a scan of the
/// incoming bytes for the CRLF CRLF that ends a request head.
final class HeadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// How many bytes of "\r\n\r\n" the bytes so far end with.
    private var matched = 0
    private var done = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done {
            let bytes = unwrapInboundIn(data)
            let pattern: [UInt8] = [13, 10, 13, 10]
            bytes.withUnsafeReadableBytes { raw in
                for b in raw where !done {
                    if b == pattern[matched] { matched += 1 } else { matched = b == 13 ? 1 : 0 }
                    if matched == 4 { done = true }
                }
            }
        }
        context.fireChannelRead(data)
        if done {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil, !done else { return }
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        timer = loop.scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.done else { return }
            context.close(promise: nil)
        }
    }
}
