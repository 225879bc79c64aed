// libFuzzer entry point for the packet and message decoders, and (PEERNET_FUZZ_TARGET) for the
// request handlers of a running node (StatefulHarness.swift).
//
// Build and run (see README "Fuzzing"):
//   swift build -c release --product peernet-fuzz --scratch-path .build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   .build-fuzz/release/peernet-fuzz -max_total_time=600 fuzz-corpus
// Without -DFUZZING the same code builds as a replayer: `peernet-fuzz FILE...` runs each file
// through the target once (for crash reproduction and for the unit-test build).
//
// The first input byte picks the decoder; the rest is its input. Whatever decodes must also
// re-encode and decode to the same value (codec symmetry), or the target traps.
import PeernetCrypto
import PeernetProtocol

/// The receiver key for the packet-layer decoder (a fixed, well-known test key).
let fuzzReceiver = try! PrivateKey(bytes: [UInt8](repeating: 2, count: 32)).publicKey

/// The stateful target named by `PEERNET_FUZZ_TARGET` (see `StatefulTarget`), built on first
/// use; without it, the decoders are fuzzed.
nonisolated(unsafe) var statefulHarness: StatefulHarness?
let statefulTarget: StatefulTarget? = {
    guard let name = ProcessInfo.processInfo.environment["PEERNET_FUZZ_TARGET"], name != "decoders" else { return nil }
    guard let target = StatefulTarget(rawValue: name) else {
        fatalError("PEERNET_FUZZ_TARGET=\(name): use decoders or \(StatefulTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func peernetFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let target = statefulTarget {
        if statefulHarness == nil {
            do { statefulHarness = try StatefulHarness(target: target) } catch { fatalError("cannot build the \(target) harness: \(error)") }
        }
        statefulHarness!.run(bytes)
        return 0
    }
    guard let selector = bytes.first else { return 0 }
    fuzzDecode(selector: selector, Array(bytes.dropFirst()))
    return 0
}

func fuzzDecode(selector: UInt8, _ input: [UInt8]) {
    switch selector % 12 {
    case 0:
        if let a = try? Announcement.decode(input) {
            for part in a.encode(sendUserAgent: true) { check((try? Announcement.decode(part)).map { _ in true }) }
        }
    case 1:
        if let r = try? Response.decode(input), let parts = try? r.encode(sendUserAgent: true) {
            for part in parts { check((try? Response.decode(part)).map { _ in true }) }
        }
    case 2:
        if let t = try? Traverse.decode(input) { check((try? Traverse.decode(t.encode())) == t) }
    case 3:
        if let g = try? GetBlockMessage.decode(input), let again = try? g.encode() { check((try? GetBlockMessage.decode(again)) == g) }
    case 4:
        if let m = try? TransferMessage.decode(input), let again = try? m.encode() { check((try? TransferMessage.decode(again)) == m) }
    case 5:
        if let u = try? UDTPacket.decode(input) { check((try? UDTPacket.decode(u.encode())) == u) }
    case 6:
        if let l = try? LitePacket.decode(input), let again = try? l.encode() { check((try? LitePacket.decode(again)) == l) }
    case 7:
        _ = try? FileTransferHeader.decode(input)
        _ = try? BlockTransferHeader.decode(input)
    case 8:
        _ = try? ChatMessage.decode(input)
    default:
        // The packet layer: decryption, recovery, header checks, then the payload's decoder.
        if let p = try? PacketCodec.decode(input, receiver: fuzzReceiver) {
            fuzzDecode(selector: p.packet.command.rawValue, p.packet.payload)
        }
    }
}

@inline(__always) func check(_ condition: Bool?) {
    if condition != true { fatalError("codec asymmetry: decoded value does not survive encode/decode") }
}

import Foundation

#if FUZZING
/// libFuzzer's driver; SwiftPM gives every executable its own `main`, so libFuzzer's is not
/// linked and we start the driver ourselves.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt
#endif

@main
struct FuzzMain {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in peernetFuzzOne(data, size) }))
        #else
        let paths = CommandLine.arguments.dropFirst()
        if paths.first == "--seeds", paths.count == 2 {
            do {
                if let target = statefulTarget {
                    try Seeds.write(try StatefulHarness.seeds(for: target), to: paths.last!)
                } else {
                    try Seeds.write(to: paths.last!)
                }
            } catch { print("cannot write seeds: \(error)"); exit(1) }
            return
        }
        if paths.isEmpty {
            print("usage: [PEERNET_FUZZ_TARGET=T] peernet-fuzz FILE... | --seeds DIR  (replays inputs / writes seeds; build with -sanitize=fuzzer -DFUZZING to fuzz)")
            return
        }
        // PEERNET_FUZZ_ROUNDS=N replays the inputs N times and prints the RSS as it goes: a
        // memory leak per request shows as steady growth.
        let rounds = Int(ProcessInfo.processInfo.environment["PEERNET_FUZZ_ROUNDS"] ?? "") ?? 1
        let inputs = paths.compactMap { path -> (String, [UInt8])? in
            guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); return nil }
            return (path, [UInt8](data))
        }
        for round in 0..<rounds {
            for (path, bytes) in inputs {
                bytes.withUnsafeBufferPointer { _ = peernetFuzzOne($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
                if rounds == 1 { print("ok \(path)") }
            }
            if rounds > 1 && (round + 1) % max(1, rounds / 10) == 0 {
                let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
                let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
                print("round \(round + 1): \((round + 1) * inputs.count) inputs, \(rss)")
            }
        }
        if let h = statefulHarness { print("\(h.target.rawValue): \(h.executions) inputs, largest reply \(h.largestReply) bytes") }
        #endif
    }
}
