/// Every file of one build lives under `build/<name>/`; the secrets under it are deleted at the end.
public struct BuildPaths: Sendable, Codable {
    public let root: String
    public let name: String

    public init(root: String, name: String) {
        self.root = root
        self.name = name
    }

    public var state: String { root + "/state.json" }
    public var overlay: String { root + "/disk.qcow2" }
    public var configDrive: String { root + "/config-drive.iso" }
    public var sshDirectory: String { root + "/ssh" }
    public var buildKey: String { sshDirectory + "/build_key" }
    public var hostKey: String { sshDirectory + "/host_key" }
    public var knownHosts: String { sshDirectory + "/known_hosts" }
    /// Unix sockets are limited to 108 bytes, which build folders easily exceed: a short path,
    /// unique per build through %C (a hash of host, port and user).
    public var controlPath: String { "/tmp/kvmb-%C" }
    public var inventory: String { root + "/inventory.ini" }
    public var consoleLog: String { root + "/console.log" }
    public var ansibleLog: String { root + "/ansible.log" }
    public var image: String { root + "/\(name).qcow2" }
    public var imagePartial: String { image + ".partial" }
    public var imageChecksum: String { image + ".sha256" }
    public var manifest: String { root + "/manifest.json" }

    /// Files that must never outlive a build, whatever its outcome.
    public var secrets: [String] { [configDrive, sshDirectory, inventory] }
}
