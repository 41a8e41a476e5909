import Foundation

/// A folder under the temporary directory for one test. Suites keep one as a stored property:
/// Swift Testing makes a fresh suite instance per test, so `deinit` is the per-test teardown
/// that keeps test runs from piling up files in /tmp.
final class Scratch: Sendable {
    let path: String

    init(_ prefix: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
