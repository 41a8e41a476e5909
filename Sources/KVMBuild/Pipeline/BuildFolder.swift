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
    static func create(in buildDirectory: String, name: String) throws -> BuildPaths {
        try FileManager.default.createDirectory(atPath: buildDirectory, withIntermediateDirectories: true)
        for attempt in 1...100 {
            let candidate = attempt == 1 ? name : "\(name)-\(attempt)"
            let path = buildDirectory + "/" + candidate
            // 0755: the folder is traversable by libvirt's helpers; secrets inside are 0600/0700.
            if mkdir(path, 0o755) == 0 { return BuildPaths(root: path, name: candidate) }
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

    static func gitSha(in directory: String) async -> String {
        let result = try? await ProcessRunner.run(ProcessSpec("git", ["-C", directory, "rev-parse", "--short=7", "HEAD"]))
        guard let result, result.succeeded else { return "nogit" }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
