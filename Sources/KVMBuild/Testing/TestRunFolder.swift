import Foundation
import KVMBuildSupport

/// The work folder of one `kvmbuild test` run, `$TMPDIR/kvmbuild-test-<id>` (0700). It records
/// the run's process, so `kvmbuild clean` can tell a run that was killed (SIGKILL, a closed
/// session that took the process with it) from one still going, and remove what the killed one
/// left: its guests, their switch, and every file but the logs (overlays, seeds, its private key).
public struct TestRunFolder: Sendable {
    public static let prefix = "kvmbuild-test-"
    static let ownerFile = "owner.json"

    public struct Owner: Sendable, Codable {
        public let id: String
        public let pid: Int32
        public let libvirtURI: String
    }

    public let path: String
    public let owner: Owner

    /// Makes the folder and records the calling process as its owner.
    public static func create(id: String, libvirtURI: String, in directory: String = FileManager.default.temporaryDirectory.path) throws -> TestRunFolder {
        let path = directory + "/" + prefix + id
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let owner = Owner(id: id, pid: getpid(), libvirtURI: libvirtURI)
        try SafeWrite.privateFile(path + "/" + ownerFile, contents: try JSONEncoder().encode(owner))
        return TestRunFolder(path: path, owner: owner)
    }

    /// Runs whose process is gone without cleaning up: their owner record is still there.
    public static func dead(in directory: String = FileManager.default.temporaryDirectory.path) -> [TestRunFolder] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted().compactMap { name in
            let path = directory + "/" + name
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == nil,
                  let data = FileManager.default.contents(atPath: path + "/" + ownerFile),
                  let owner = try? JSONDecoder().decode(Owner.self, from: data), !ProcFS.isKVMBuild(owner.pid) else { return nil }
            return TestRunFolder(path: path, owner: owner)
        }
    }

    /// Every file of the run except its logs (what a failed run keeps for debugging); the owner
    /// record last, so a run stays findable until nothing else of it is left.
    public var leftovers: [String] {
        let owner = path + "/" + Self.ownerFile
        return Self.allButLogs(path).filter { $0 != owner } + (FileManager.default.fileExists(atPath: owner) ? [owner] : [])
    }

    /// Destroys the run's guests (our metadata with its id), stops its switch and removes every
    /// file but the logs; returns what it removed.
    public func clean() throws -> [String] {
        var removed = try BuildRegistry.destroyDomains(id: owner.id, libvirtURI: owner.libvirtURI)
        removed += VDESwitch.stopAll(under: path + "/")
        return removed + removeAllButLogs()
    }

    /// What a run that ended leaves: only `logs` folders (and the folder itself, if it has any).
    @discardableResult
    public func removeAllButLogs() -> [String] {
        let removed = leftovers
        for file in removed { try? FileManager.default.removeItem(atPath: file) }
        if ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).isEmpty { try? FileManager.default.removeItem(atPath: path) }
        return removed
    }

    /// Runs a setup step; if it throws, the run has nothing to keep: the folder goes.
    public func removingOnError<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Files and folders under `folder` that hold no `logs` folder (folders that do are entered).
    private static func allButLogs(_ folder: String) -> [String] {
        let fm = FileManager.default
        var result: [String] = []
        for name in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() where name != "logs" {
            let path = folder + "/" + name
            var isDirectory: ObjCBool = false
            let isRealDirectory = fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
                && (try? fm.destinationOfSymbolicLink(atPath: path)) == nil
            if isRealDirectory, containsLogs(path) {
                result += allButLogs(path)
            } else {
                result.append(path)
            }
        }
        return result
    }

    private static func containsLogs(_ folder: String) -> Bool {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).contains { name in
            var isDirectory: ObjCBool = false
            let path = folder + "/" + name
            return fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue && (name == "logs" || containsLogs(path))
        }
    }
}
