import Foundation
import TestSupport
import XCTest

/// The fast path's packets fit the path's MTU: two daemons in a private network namespace whose
/// loopback has the MTU of an Ethernet LAN (1,500) or of jumbo frames (9,000), a `peernet get`
/// between them, and the namespace's own IP counters. Before, the fast path sent 16 KiB
/// datagrams on every loopback and LAN path: on a 1,500-byte LAN each left as 11 IP fragments.
final class PathMTUCLITests: XCTestCase {
    /// Runs the get in a namespace with loopback MTU `mtu`: (IP fragments made, bytes equal,
    /// the holder's packet size as its log says).
    func getInNamespace(mtu: Int) throws -> (fragments: Int, same: Bool, log: String) {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else {
            throw XCTSkip("needs root, unshare and ip (iproute2: scripts/install-deps.sh installs it)")
        }
        let dir = URL(fileURLWithPath: "/tmp/pn-mtu-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Loopback only, like every CLI test (no seed list, no LAN discovery, no UPnP); the
        // holder logs at debug level, where it names its packet size.
        try CLITests.loopbackConfig.write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        try (CLITests.loopbackConfig + "\nLogLevel: debug\n").write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        // Everything below runs in the namespace: only its loopback exists, nothing leaves it.
        let script = """
        set -e
        ip link set lo mtu \(mtu) up
        PN=\(CLITests.binary.path); D=\(dir.path)
        trap 'kill $A $B 2>/dev/null; wait 2>/dev/null' EXIT
        # IP fragments made in this namespace (the column by name).
        counters() { /usr/bin/python3 -c "
        rows = [r.split() for r in open('/proc/net/snmp').read().splitlines()]
        c = {k[0] + n: v for k, vs in zip(rows[::2], rows[1::2]) for n, v in zip(k[1:], vs[1:])}
        print(c['Ip:FragCreates'])"; }
        $PN daemon --data-dir $D/a --config $D/a.yaml --listen 127.0.0.1:7401 --no-root-peers --no-lan-discovery > $D/a.log 2>&1 & A=$!
        for i in $(seq 100); do [ -S $D/a/control.sock ] && break; sleep 0.1; done
        ID=$($PN status --data-dir $D/a --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["peerId"])')
        $PN daemon --data-dir $D/b --config $D/b.yaml --listen 127.0.0.1:7402 --root $ID@127.0.0.1:7401 --no-lan-discovery > $D/b.log 2>&1 & B=$!
        for i in $(seq 100); do [ -S $D/b/control.sock ] && break; sleep 0.1; done
        head -c 4194304 /dev/urandom > $D/data.bin
        H=$($PN hash $D/data.bin | cut -c1-64)
        $PN share --data-dir $D/a $D/data.bin > /dev/null
        frag=$(counters)
        $PN get --data-dir $D/b --timeout 60 -o $D/got.bin $H > /dev/null
        frag2=$(counters)
        cmp -s $D/data.bin $D/got.bin && same=yes || same=no
        echo "fragments $((frag2 - frag)) same $same"
        grep -o 'fast path, [0-9]*-byte packets' $D/a/peernet.log | sort -u
        """
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/unshare"), ["-n", "/bin/sh", "-c", script], timeout: 120)
        XCTAssertEqual(r.status, 0, r.out + r.err)
        let words = r.out.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count >= 4, let fragments = Int(words[1]) else {
            XCTFail("no counters: \(r.out) \(r.err)")
            return (0, false, "")
        }
        return (fragments, words[3] == "yes", r.out)
    }

    func testFastPathPacketsFitTheLinkMTU() throws {
        // A 1,500-byte LAN: full-size packets of 1,414 bytes of data, none fragmented.
        let lan = try getInNamespace(mtu: 1500)
        XCTAssertTrue(lan.same, "the file arrived")
        XCTAssertEqual(lan.fragments, 0, "no datagram was larger than the MTU (16 KiB datagrams made 3,072 fragments)")
        XCTAssertTrue(lan.log.contains("fast path, 1414-byte packets"), "the holder sized its packets to the MTU: \(lan.log)")
        // Jumbo frames: ~9 KB packets, none fragmented.
        let jumbo = try getInNamespace(mtu: 9000)
        XCTAssertTrue(jumbo.same, "the file arrived")
        XCTAssertEqual(jumbo.fragments, 0, "(16 KiB datagrams made 512 fragments)")
        XCTAssertTrue(jumbo.log.contains("fast path, 8914-byte packets"), jumbo.log)
    }
}
