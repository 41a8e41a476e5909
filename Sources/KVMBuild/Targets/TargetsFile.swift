import Foundation
import KVMBuildSupport
import Yams

/// kvmbuild.yml: the targets a repository can build. Relative paths are relative to the file.
public struct TargetsFile: Sendable {
    public let path: String
    public let targets: [String: Target]

    public static let defaultFileName = "kvmbuild.yml"

    public static func load(path: String) throws -> TargetsFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KVMBuildError(.notFound, "targets file \(path) not found", fix: "run kvmbuild from the repository root or pass --file PATH")
        }
        let raw: RawFile
        do {
            if let unknown = KnownKeys.firstUnknown(in: try Yams.load(yaml: text)) {
                throw KVMBuildError(.invalidInput, "\(path): unknown key '\(unknown.path)'",
                                    fix: unknown.suggestion.map { "did you mean '\($0)'?" } ?? "compare it with the README's kvmbuild.yml reference")
            }
            raw = try YAMLDecoder().decode(RawFile.self, from: text)
        } catch let error as KVMBuildError {
            throw error
        } catch {
            throw KVMBuildError(.invalidInput, "\(path) is not a valid targets file: \(Self.describe(error))", fix: "compare it with the README's kvmbuild.yml reference")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var targets: [String: Target] = [:]
        for (name, entry) in raw.targets {
            targets[name] = try entry.resolve(name: name, defaults: raw.defaults, base: base)
        }
        return TargetsFile(path: path, targets: targets)
    }

    public func target(_ name: String) throws -> Target {
        guard let target = targets[name] else {
            let known = targets.keys.sorted().joined(separator: ", ")
            throw KVMBuildError(.notFound, "no target named '\(name)' in \(path)", fix: "use one of: \(known)")
        }
        return target
    }

    static func describe(_ error: Error) -> String {
        if case DecodingError.keyNotFound(let key, let ctx) = error {
            return "missing '\(key.stringValue)' at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        if case DecodingError.typeMismatch(_, let ctx) = error {
            return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        return "\(error)"
    }
}

/// The keys kvmbuild.yml may hold: anything else is a typo that YAMLDecoder would silently drop
/// (a misspelt `munge_key` would build an image without the cluster's key).
enum KnownKeys {
    static let target: Set<String> = [
        "base_image", "playbook", "groups", "extra_vars", "var_files", "disk_size_gib", "memory_mib", "vcpus", "ssh_user",
        "munge_key", "output_name", "compression", "verify", "glance", "test", "cloud_init", "package_cache",
    ]
    static let nested: [String: Set<String>] = [
        "base_image": ["source", "checksum"],
        "verify": ["enabled_units", "absent", "files"],
        "glance": ["properties", "min_disk", "min_ram", "visibility", "tags"],
        "test": ["user", "active", "enabled", "inactive", "files", "commands", "playbook", "memory_mib", "slurm_cluster"],
    ]
    static let slurmCluster: Set<String> = ["nodes", "memory_mib", "controller_memory_mib", "controller_names"]

    /// The first key that is not kvmbuild's, as `targets.compute.mungekey`, with the nearest known one.
    static func firstUnknown(in document: Any?) -> (path: String, suggestion: String?)? {
        guard let top = document as? [String: Any] else { return nil }
        if let bad = unknown(top.keys, in: ["defaults", "targets"]) { return (bad, nearest(bad, in: ["defaults", "targets"])) }
        var sections: [(String, Any)] = []
        if let defaults = top["defaults"] { sections.append(("defaults", defaults)) }
        for (name, entry) in (top["targets"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) { sections.append(("targets.\(name)", entry)) }
        for (prefix, entry) in sections {
            guard let fields = entry as? [String: Any] else { continue }
            if let bad = unknown(fields.keys, in: target) { return ("\(prefix).\(bad)", nearest(bad, in: target)) }
            for (key, allowed) in nested.sorted(by: { $0.key < $1.key }) {
                guard let inner = fields[key] as? [String: Any], let bad = unknown(inner.keys, in: allowed) else { continue }
                return ("\(prefix).\(key).\(bad)", nearest(bad, in: allowed))
            }
            if let cluster = (fields["test"] as? [String: Any])?["slurm_cluster"] as? [String: Any], let bad = unknown(cluster.keys, in: slurmCluster) {
                return ("\(prefix).test.slurm_cluster.\(bad)", nearest(bad, in: slurmCluster))
            }
        }
        return nil
    }

    private static func unknown(_ keys: Dictionary<String, Any>.Keys, in allowed: Set<String>) -> String? {
        keys.sorted().first { !allowed.contains($0) }
    }

    /// The known key within edit distance 3, if one is that close.
    static func nearest(_ key: String, in known: Set<String>) -> String? {
        var best: (name: String, cost: Int)?
        for name in known.sorted() {
            let cost = distance(key, name)
            if cost < (best?.cost ?? Int.max) { best = (name, cost) }
        }
        guard let best, best.cost <= 3 else { return nil }
        return best.name
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

/// The file as written: every field optional so `defaults` can fill gaps.
struct RawFile: Decodable {
    var defaults: RawTarget?
    var targets: [String: RawTarget]
}

struct RawTarget: Decodable {
    struct RawBase: Decodable { var source: String?; var checksum: String? }
    struct RawVerify: Decodable {
        var enabled_units: [String]?
        var absent: [String]?
        var files: [Target.Verification.FileExpectation]?
    }
    struct RawGlance: Decodable {
        var properties: [String: String]?
        var min_disk: Int?
        var min_ram: Int?
        var visibility: String?
        var tags: [String]?
    }

    var base_image: RawBase?
    var playbook: String?
    var groups: [String]?
    var extra_vars: [String: String]?
    var var_files: [String]?
    var disk_size_gib: Int?
    var memory_mib: Int?
    var vcpus: Int?
    var ssh_user: String?
    var munge_key: String?
    var output_name: String?
    var compression: String?
    var verify: RawVerify?
    var glance: RawGlance?
    var test: RawTest?
    var cloud_init: String?
    var package_cache: String?

    struct RawTest: Decodable {
        struct RawCommand: Decodable { var run: String; var exit_code: Int32?; var output_contains: String? }
        var user: String?
        var active: [String]?
        var enabled: [String]?
        var inactive: [String]?
        var files: [TestSpec.FileCheck]?
        var commands: [RawCommand]?
        var playbook: String?
        var memory_mib: Int?
        var slurm_cluster: RawCluster?

        struct RawCluster: Decodable { var nodes: Int?; var memory_mib: Int?; var controller_memory_mib: Int?; var controller_names: [String]? }

        func resolve(base: URL) -> TestSpec {
            var spec = TestSpec()
            if let user { spec.user = user }
            spec.active = active ?? []
            spec.enabled = enabled ?? []
            spec.inactive = inactive ?? []
            spec.files = files ?? []
            spec.commands = (commands ?? []).map { .init(run: $0.run, exitCode: $0.exit_code ?? 0, outputContains: $0.output_contains) }
            spec.playbook = playbook.map { PathExpansion.resolve($0, base: base) }
            spec.memoryMiB = memory_mib
            spec.slurmCluster = slurm_cluster.map { raw in
                var cluster = SlurmClusterSpec()
                if let nodes = raw.nodes { cluster.nodes = nodes }
                if let memory = raw.memory_mib { cluster.memoryMiB = memory }
                if let memory = raw.controller_memory_mib { cluster.controllerMemoryMiB = memory }
                if let names = raw.controller_names { cluster.controllerNames = names }
                return cluster
            }
            return spec
        }
    }

    func resolve(name: String, defaults: RawTarget?, base: URL) throws -> Target {
        let d = defaults
        func need<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else {
                throw KVMBuildError(.invalidInput, "target '\(name)' has no \(field)", fix: "add \(field) to the target or to defaults in kvmbuild.yml")
            }
            return value
        }
        let source = try need(base_image?.source ?? d?.base_image?.source, "base_image.source")
        let checksum = try need(base_image?.checksum ?? d?.base_image?.checksum, "base_image.checksum")
        let v = verify ?? d?.verify
        let g = glance ?? d?.glance
        let compressionName = compression ?? d?.compression ?? ImageCompression.zstd.rawValue
        guard let imageCompression = ImageCompression(rawValue: compressionName) else {
            throw KVMBuildError(.invalidInput, "target '\(name)': unknown compression '\(compressionName)'",
                                fix: "use compression: zstd (QEMU >= 5.1 readers) or zlib (any reader)")
        }
        let packageCache: PackageCacheSetting
        do {
            packageCache = try PackageCacheSetting(parsing: package_cache ?? d?.package_cache ?? "auto")
        } catch let error as KVMBuildError {
            throw KVMBuildError(error.code, "target '\(name)': \(error.message)", fix: error.fix)
        }
        return Target(
            name: name,
            baseImage: .init(source: PathExpansion.resolveSource(source, base: base),
                             checksum: checksum.hasPrefix("file:") ? "file:" + PathExpansion.resolve(String(checksum.dropFirst(5)), base: base) : checksum),
            playbook: PathExpansion.resolve(try need(playbook ?? d?.playbook, "playbook"), base: base),
            groups: groups ?? d?.groups ?? [name],
            extraVars: (d?.extra_vars ?? [:]).merging(extra_vars ?? [:]) { _, new in new },
            varFiles: (var_files ?? d?.var_files ?? []).map { PathExpansion.resolve($0, base: base) },
            diskSizeGiB: disk_size_gib ?? d?.disk_size_gib,
            memoryMiB: memory_mib ?? d?.memory_mib ?? 1536,
            vcpus: vcpus ?? d?.vcpus ?? 2,
            sshUser: ssh_user ?? d?.ssh_user ?? "kvmbuild",
            mungeKey: (munge_key ?? d?.munge_key).map { PathExpansion.resolve($0, base: base) },
            outputName: output_name ?? d?.output_name ?? "{target}-{yymmdd}-{hhmm}-{gitsha}",
            verify: .init(enabledUnits: v?.enabled_units ?? [], absent: v?.absent ?? [], files: v?.files ?? []),
            glance: .init(properties: g?.properties ?? [:], minDiskGib: g?.min_disk, minRamMib: g?.min_ram,
                          visibility: g?.visibility, tags: g?.tags ?? []),
            compression: imageCompression,
            test: (test ?? d?.test)?.resolve(base: base) ?? TestSpec(),
            cloudInit: (cloud_init ?? d?.cloud_init).map { PathExpansion.resolve($0, base: base) },
            packageCache: packageCache)
    }
}

public enum PathExpansion {
    /// Expands `~` and `$VAR`/`${VAR}`, then makes the path absolute against `base`.
    public static func resolve(_ path: String, base: URL) -> String {
        var expanded = expandVariables(path)
        if expanded == "~" || expanded.hasPrefix("~/") {
            expanded = FileManager.default.homeDirectoryForCurrentUser.path + expanded.dropFirst()
        }
        return URL(fileURLWithPath: expanded, relativeTo: base).standardizedFileURL.path
    }

    /// Like `resolve`, but leaves URLs alone.
    public static func resolveSource(_ source: String, base: URL) -> String {
        if source.hasPrefix("http://") || source.hasPrefix("https://") { return source }
        if source.hasPrefix("file://") { return "file://" + resolve(String(source.dropFirst(7)), base: base) }
        return resolve(source, base: base)
    }

    /// `$VAR`, `${VAR}` and `${VAR:-default}`, as a shell would expand them.
    static func expandVariables(_ text: String) -> String {
        let env = ProcessInfo.processInfo.environment
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            guard text[i] == "$" else { out.append(text[i]); i = text.index(after: i); continue }
            var j = text.index(after: i)
            let braced = j < text.endIndex && text[j] == "{"
            if braced { j = text.index(after: j) }
            let nameStart = j
            while j < text.endIndex, text[j].isLetter || text[j].isNumber || text[j] == "_" { j = text.index(after: j) }
            let name = String(text[nameStart..<j])
            var fallback = ""
            if braced {
                if text[j...].hasPrefix(":-") {
                    let defaultStart = text.index(j, offsetBy: 2)
                    let close = text[defaultStart...].firstIndex(of: "}") ?? text.endIndex
                    fallback = String(text[defaultStart..<close])
                    j = close
                }
                if j < text.endIndex, text[j] == "}" { j = text.index(after: j) }
            }
            if name.isEmpty {
                out += "$"
            } else if let value = env[name], !value.isEmpty {
                out += value
            } else {
                out += fallback
            }
            i = j
        }
        return out
    }
}
