import Foundation
import KVMBuildSupport
import Libvirt

/// Finds builds (live and dead) from their state files and from libvirt's domains that carry
/// kvmbuild metadata, and removes what dead ones left behind — only theirs.
public struct BuildRegistry: Sendable {
    public let buildDirectory: String
    public let libvirtURI: String

    public init(buildDirectory: String, libvirtURI: String) {
        self.buildDirectory = buildDirectory
        self.libvirtURI = libvirtURI
    }

    public struct Entry: Sendable, Codable {
        public let name: String
        public let folder: String
        public let state: BuildState
        public let alive: Bool
        public let domainRunning: Bool
        /// Files a finished build should not have left: overlay, ISO, keys, partial export.
        public let leftovers: [String]

        public var needsCleaning: Bool { !alive && (domainRunning || !leftovers.isEmpty || state.status == .running || state.status == .aborted) }
    }

    public func entries() -> [Entry] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: buildDirectory)) ?? []).sorted()
        let connection = try? Connection(uri: libvirtURI)
        return names.compactMap { name in
            let folder = buildDirectory + "/" + name
            guard !isSymlink(folder), let state = BuildState.load(folder + "/state.json") else { return nil }
            let paths = BuildPaths(root: folder, name: state.name)
            let leftovers = ([paths.overlay, paths.imagePartial] + paths.secrets).filter { fm.fileExists(atPath: $0) } + paths.testClusterLeftovers
            let running = (try? connection?.domain(named: state.domain)) != nil
            return Entry(name: name, folder: folder, state: state, alive: state.ownerAlive, domainRunning: running, leftovers: leftovers)
        }
    }

    /// The build a user names: a folder name, a target's newest build, or a build id.
    public func find(_ reference: String?) throws -> Entry {
        let all = entries()
        let live = all.filter { $0.alive || $0.domainRunning }
        let match: Entry?
        if let reference {
            match = all.first { $0.name == reference || $0.state.id == reference }
                ?? live.filter { $0.state.target == reference }.max { $0.state.started < $1.state.started }
        } else {
            match = live.count == 1 ? live.first : nil
            if live.count > 1 {
                throw KVMBuildError(.invalidInput, "\(live.count) builds are running", fix: "name one: \(live.map(\.name).joined(separator: ", "))")
            }
        }
        guard let match else {
            throw KVMBuildError(.notFound, reference.map { "no build '\($0)' in \(buildDirectory)" } ?? "no running build", fix: "see kvmbuild list")
        }
        return match
    }

    /// Destroys a dead build's domain and deletes its overlay, ISO, keys and partial export.
    /// Refuses builds whose process is alive: those clean up after themselves.
    public func clean(_ entry: Entry) throws -> [String] {
        guard !entry.alive else {
            throw KVMBuildError(.invalidInput, "build \(entry.name) is still running (pid \(entry.state.pid))", fix: "stop it with Ctrl-C or kill \(entry.state.pid); it cleans up itself")
        }
        var removed = try Self.destroyDomains(id: entry.state.id, libvirtURI: entry.state.libvirtURI)
        removed += VDESwitch.stopAll(under: entry.folder + "/")
        for path in entry.leftovers {
            try? FileManager.default.removeItem(atPath: path)
            removed.append(path)
        }
        var state = entry.state
        if state.status == .running || state.status == .aborted {
            state.status = .cleaned
            try? state.save(entry.folder + "/state.json")
        }
        return removed
    }

    /// Destroys every domain a build or test run made (build guest, test instance, cluster guests):
    /// our metadata with its id marks them, and nothing else is touched.
    static func destroyDomains(id: String, libvirtURI: String) throws -> [String] {
        guard let connection = try? Connection(uri: libvirtURI) else { return [] }
        var removed: [String] = []
        for domain in try connection.allDomains() {
            guard let metadata = domain.metadata(namespaceURI: GuestDomain.metadataNamespace), metadata.contains("id=\"\(id)\"") else { continue }
            let name = domain.name
            try domain.destroy()
            removed.append("domain \(name)")
        }
        return removed
    }

    private func isSymlink(_ path: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
    }
}
