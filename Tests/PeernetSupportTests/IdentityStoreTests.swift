import Foundation
import PeernetCrypto
import PeernetSupport
import XCTest

final class IdentityStoreTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pn-id-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func testCreateThenLoadIsStableAndPrivate() throws {
        let store = IdentityStore(dataDirectory: DataDirectory(url: dir))
        XCTAssertNil(try store.load())
        let (key, created) = try store.loadOrCreate()
        XCTAssertTrue(created)
        let (again, createdAgain) = try store.loadOrCreate()
        XCTAssertFalse(createdAgain)
        XCTAssertEqual(again.publicKey, key.publicKey)
        let attrs = try FileManager.default.attributesOfItem(atPath: store.keyURL.path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let dirAttrs = try FileManager.default.attributesOfItem(atPath: dir.path)
        XCTAssertEqual((dirAttrs[.posixPermissions] as? NSNumber)?.intValue, 0o700)
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [IdentityStore.fileName])
    }

    func testCorruptKeyFileIsAClearError() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = IdentityStore(dataDirectory: DataDirectory(url: dir))
        try "not a key".write(to: store.keyURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.loadOrCreate()) { error in
            XCTAssertEqual(error as? SupportError, .identityCorrupt(path: store.keyURL.path))
            XCTAssertTrue("\(error)".contains("restore it"))
        }
        // Nothing was overwritten.
        XCTAssertEqual(try String(contentsOf: store.keyURL, encoding: .utf8), "not a key")
    }

    func testReferenceStyleHexIsAccepted() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = IdentityStore(dataDirectory: DataDirectory(url: dir))
        try (String(repeating: "01", count: 32).uppercased() + "\n").write(to: store.keyURL, atomically: true, encoding: .utf8)
        XCTAssertEqual(try store.load()?.publicKey.hexString,
                       "031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f")
    }

    func testDataDirectoryResolutionOrder() {
        let env = ["HOME": "/home/u", "XDG_DATA_HOME": "/xdg", "PEERNET_DATA_DIR": "/env/pn"]
        XCTAssertEqual(DataDirectory.resolve(explicit: "/x", environment: env).path, "/x")
        XCTAssertEqual(DataDirectory.resolve(explicit: nil, environment: env).path, "/env/pn")
        XCTAssertEqual(DataDirectory.resolve(explicit: nil, environment: ["HOME": "/home/u", "XDG_DATA_HOME": "/xdg"]).path,
                       "/xdg/peernet")
        XCTAssertEqual(DataDirectory.resolve(explicit: nil, environment: ["HOME": "/home/u"]).path,
                       "/home/u/.local/share/peernet")
        // A relative XDG_DATA_HOME is invalid per the spec and ignored.
        XCTAssertEqual(DataDirectory.resolve(explicit: nil, environment: ["HOME": "/h", "XDG_DATA_HOME": "rel"]).path,
                       "/h/.local/share/peernet")
        XCTAssertEqual(DataDirectory.resolve(explicit: "~/pn", environment: ["HOME": "/h"]).path, "/h/pn")
    }
}
