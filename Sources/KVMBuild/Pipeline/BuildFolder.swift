import Foundation
import KVMBuildSupport

/// Creates and tidies `build/<name>/` folders.
enum BuildFolder {
    /// Expands the target's output name pattern: {target} {yymmdd} {hhmm} {gitsha} {id}.
    static func name(pattern: String, target: String, id: String, gitSha: String, date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        func format(_ f: String) -> String { formatter.dateFormat = f; return formatter.string(from: date) }
        return pattern
            .replacingOccurrences(of: "{target}", with: target)
            .replacingOccurrences(of: "{yymmdd}", with: format("yyMMdd"))
            .replacingOccurrences(of: "{hhmm}", with: format("HHmm"))
            .replacingOccurrences(of: "{gitsha}", with: gitSha)
            .replacingOccurrences(of: "{id}", with: id)
    }

    /// Makes a new folder atomically: two builds in the same minute get `-2`, `-3`, ….
    /// 0700 (0750 for `group`): QEMU runs as the building user (DomainXML), so nobody else
    /// needs to traverse it, and the image inside carries the munge key.
    static func create(in buildDirectory: String, name: String, group: gid_t? = nil) throws -> BuildPaths {
        try PrivateDirectory.create(buildDirectory, group: group)
        for attempt in 1...100 {
            let candidate = attempt == 1 ? name : "\(name)-\(attempt)"
            let path = buildDirectory + "/" + candidate
            if mkdir(path, 0o700) == 0 {
                if let group { _ = chown(path, uid_t.max, group); _ = chmod(path, 0o750) }
                return BuildPaths(root: path, name: candidate)
            }
            if errno != EEXIST {
                throw KVMBuildError(.io, "cannot create \(path): \(String(cString: strerror(errno)))", fix: "check permissions and free space in \(buildDirectory)")
            }
        }
        throw KVMBuildError(.io, "too many builds named \(name) in \(buildDirectory)", fix: "remove old builds from \(buildDirectory)")
    }

    /// After a failed build, keep only what helps debugging (logs, state); drop the folder when
    /// nothing worth reading is left.
    static func pruneAfterFailure(_ paths: BuildPaths) {
        let fm = FileManager.default
        for path in [paths.overlay, paths.imagePartial, paths.image, paths.imageChecksum, paths.manifest] + paths.secrets {
            try? fm.removeItem(atPath: path)
        }
        let logs = [paths.consoleLog, paths.ansibleLog].filter { ((try? fm.attributesOfItem(atPath: $0)[.size]) as? Int ?? 0) > 0 }
        if logs.isEmpty { try? fm.removeItem(atPath: paths.root) }
    }

    /// Looks a group up by name or number (`--output-group`).
    public static func groupID(_ name: String) throws -> gid_t {
        if let entry = getgrnam(name) { return entry.pointee.gr_gid }
        if let number = gid_t(name), getgrgid(number) != nil { return number }
        throw KVMBuildError(.invalidInput, "--output-group \(name): no such group", fix: "name an existing group (getent group)")
    }

    /// With --output-group: the files a build publishes become readable by that group.
    static func share(_ paths: BuildPaths, group: gid_t) {
        for file in [paths.image, paths.imageChecksum, paths.manifest, paths.consoleLog, paths.ansibleLog, paths.state, paths.testConsoleLog, paths.testAnsibleLog] {
            _ = chown(file, uid_t.max, group)
            _ = chmod(file, 0o640)
        }
    }

    static func gitSha(in directory: String) async -> String {
        let result = try? await ProcessRunner.run(ProcessSpec("git", ["-C", directory, "rev-parse", "--short=7", "HEAD"]))
        guard let result, result.succeeded else { return "nogit" }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
