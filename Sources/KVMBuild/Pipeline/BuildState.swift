import Foundation

/// `build/<name>/state.json`: what a build owns, written as it goes, so `kvmbuild list` and
/// `kvmbuild clean` can find a dead build's leftovers without guessing.
public struct BuildState: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case running, succeeded, failed, interrupted, aborted, cleaned }

    public var id: String
    public var name: String
    public var target: String
    public var pid: Int32
    public var status: Status
    public var started: Date
    public var domain: String
    public var sshPort: Int?
    public var sshUser: String
    public var libvirtURI: String
    public var image: String?
    /// Why the build failed, as its one error line said it (nil while running or succeeded).
    public var failure: Failure?

    public struct Failure: Sendable, Codable, Equatable {
        public var phase: String
        public var code: String
        public var error: String
        public var fix: String?
    }

    public static func load(_ path: String) -> BuildState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(BuildState.self, from: data)
    }

    public func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Write-then-rename: a reader never sees half a file, even after SIGKILL.
        let temp = path + ".tmp"
        try encoder.encode(self).write(to: URL(fileURLWithPath: temp))
        _ = rename(temp, path)
    }

    /// True while the process that owns the build is alive.
    public var ownerAlive: Bool { ProcFS.isKVMBuild(pid) }
}
