import Foundation
@testable import PeernetNode
import PeernetProtocol
import XCTest

/// Batched sends (UDP GSO runs, sendmmsg) and receives (recvmmsg, GRO splitting) deliver the
/// same datagrams, in order, as one call per datagram did (issue 18).
final class UDPSocketBatchTests: XCTestCase {
    func testBatchesArriveAsTheDatagramsSent() throws {
        let receiver = try UDPSocket(bind: Endpoint("127.0.0.1:0")!, coalesce: true)
        let sender = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        // Runs of equal sizes (GSO), a shorter datagram closing a run, large ones (loopback
        // only), and sizes that change every datagram (sendmmsg).
        var batch: [[UInt8]] = []
        for i in 0..<100 { batch.append([UInt8](repeating: UInt8(i), count: 1232)) }
        batch.append([UInt8](repeating: 200, count: 500))
        for i in 0..<5 { batch.append([UInt8](repeating: UInt8(150 + i), count: 16_384)) }
        for i in 0..<10 { batch.append([UInt8](repeating: UInt8(50 + i), count: 10 + i)) }
        XCTAssertEqual(sender.send(batch: batch, to: receiver.localEndpoint), batch.count)
        XCTAssertTrue(sender.segments, "the kernel took the GSO sends (Linux 4.18+)")

        let batches = UDPBatchReceiver(socket: receiver, count: 8)
        var got: [[UInt8]] = []
        var sources = Set<Endpoint>()
        let deadline = Date().addingTimeInterval(10)
        while got.count < batch.count && Date() < deadline {
            batches.receive { raw, from in
                got.append(Array(raw))
                sources.insert(from)
            }
        }
        XCTAssertEqual(got.count, batch.count)
        XCTAssertEqual(got, batch, "every datagram, whole and in order")
        XCTAssertEqual(sources, [sender.localEndpoint])
        XCTAssertTrue(receiver.coalesces, "this kernel has UDP GRO (Linux 5.0+); elsewhere datagrams simply arrive one by one")
    }

    /// A small datagram ahead of a run (an ACK2 before the data an ACK let go) goes alone, and
    /// the run after it is still one GSO send. Before, the first datagram that could not start
    /// a run sent the rest of the batch by sendmmsg, one datagram each: 41 kernel sends here,
    /// and 4 times the datagrams (1.6x the CPU) in a compatible-mode download.
    func testASmallDatagramAheadOfARunLeavesTheRunSegmented() throws {
        let receiver = try UDPSocket(bind: Endpoint("127.0.0.1:0")!, coalesce: true)
        let sender = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let batch = [[UInt8](repeating: 7, count: 20)] + (0..<40).map { [UInt8](repeating: UInt8($0), count: 1232) }
        XCTAssertEqual(sender.send(batch: batch, to: receiver.localEndpoint), batch.count)
        XCTAssertTrue(sender.segments)
        XCTAssertEqual(sender.kernelSends.load(ordering: .relaxed), 2, "the small datagram, then one GSO send of the 40")
        let batches = UDPBatchReceiver(socket: receiver, count: 8)
        var got: [[UInt8]] = []
        let deadline = Date().addingTimeInterval(10)
        while got.count < batch.count && Date() < deadline { batches.receive { raw, _ in got.append(Array(raw)) } }
        XCTAssertEqual(got, batch, "every datagram, whole and in order")
    }

    /// A receiver without GRO gets a GSO send as separate datagrams (the kernel segments it):
    /// what a reference node, which never asks for GRO, sees.
    func testAReceiverWithoutCoalescingGetsSeparateDatagrams() throws {
        let receiver = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let sender = try UDPSocket(bind: Endpoint("127.0.0.1:0")!)
        let batch = (0..<40).map { [UInt8](repeating: UInt8($0), count: 1232) }
        XCTAssertEqual(sender.send(batch: batch, to: receiver.localEndpoint), 40)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var got: [[UInt8]] = []
        while got.count < 40, let (n, _) = receiver.receive(into: buffer) { got.append(Array(buffer[0..<n])) }
        XCTAssertEqual(got, batch)
    }
}
