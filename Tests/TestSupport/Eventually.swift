import Foundation
import XCTest

/// Polls `condition` every 20 ms until it holds or `timeout` passes: bounded, so a test that
/// waits on the network fails with a message instead of hanging.
public func eventually(_ timeout: Double = 10, _ message: String = "condition", file: StaticString = #filePath, line: UInt = #line,
                       _ condition: () async -> Bool) async {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if await condition() { return }
        try? await Task.sleep(for: .milliseconds(20))
    }
    XCTFail("timed out after \(timeout) s waiting for \(message)", file: file, line: line)
}
