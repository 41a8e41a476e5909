import Foundation

/// Everything a build guest learns from its config drive.
public struct ConfigDriveContent: Sendable {
    public enum Flavor: String, Sendable, CaseIterable {
        /// OpenStack config drive: label `config-2`, what Nova attaches.
        case configdrive
        /// NoCloud seed: label `cidata`.
        case nocloud

        public var volumeLabel: String { self == .configdrive ? "config-2" : "cidata" }
    }

    public struct HostKey: Sendable {
        public let privateKey: String
        public let publicKey: String
        public init(privateKey: String, publicKey: String) { self.privateKey = privateKey; self.publicKey = publicKey }
    }

    public var flavor: Flavor
    /// New per build, so cloud-init's per-instance modules always run.
    public var instanceID: String
    public var hostname: String
    public var user: String
    public var authorizedKeys: [String]
    /// ed25519 host key the guest must present; nil lets the guest generate its own.
    public var hostKey: HostKey?
    public var mungeKey: Data?
    /// cloud-init datasources to pin for reboots during the build.
    public var datasources: [String] = ["ConfigDrive", "NoCloud"]
    /// A second NIC on a guest-only segment (cluster tests); nil: the user-mode NIC alone.
    public var network: GuestNetwork?
    /// The whole /etc/hosts, for guests that must find each other by name; nil leaves it to
    /// cloud-init.
    public var etcHosts: String?
    /// An HTTP proxy (a package cache) for apt during the build, as the guest reaches it; it
    /// goes in the build-time apt file, so the seal removes it with the rest.
    public var packageProxy: String?

    public init(flavor: Flavor, instanceID: String, hostname: String, user: String, authorizedKeys: [String],
                hostKey: HostKey?, mungeKey: Data?) {
        self.flavor = flavor
        self.instanceID = instanceID
        self.hostname = hostname
        self.user = user
        self.authorizedKeys = authorizedKeys
        self.hostKey = hostKey
        self.mungeKey = mungeKey
    }

    /// Where cloud-init reads its datasource pin; the seal removes it so the image keeps its own list.
    public static let datasourcePinPath = "/etc/cloud/cloud.cfg.d/95-kvmbuild-build.cfg"
    public static let mungeKeyPath = "/etc/munge/munge.key"
    /// dpkg's build-time speed-up (no fsync per unpacked file); the seal removes it.
    public static let dpkgUnsafeIOPath = "/etc/dpkg/dpkg.cfg.d/95-kvmbuild-build"
    /// apt's build-time settings: dpkg through `dpkgWrapperPath`, one systemd reload at the end.
    public static let aptBuildConfigPath = "/etc/apt/apt.conf.d/95-kvmbuild-build"
    /// dpkg with `noReloadBinPath` first on PATH, for the package scripts it runs.
    public static let dpkgWrapperPath = "/usr/local/sbin/kvmbuild-build-dpkg"
    /// Holds a `systemctl` that skips `daemon-reload` and runs the real one for everything else.
    public static let noReloadBinPath = "/usr/local/lib/kvmbuild-build"
    /// Everything the config drive adds only for the build; the seal removes it all.
    public static let buildTimePaths = [datasourcePinPath, dpkgUnsafeIOPath, aptBuildConfigPath, dpkgWrapperPath, noReloadBinPath]
}

/// A new instance's metadata, as Nova would give it: no user, no munge key, no build files.
public struct InstanceSeed: Sendable {
    public var instanceID: String
    public var hostname: String
    /// name → OpenSSH public key; cloud-init gives them to the image's default user.
    public var publicKeys: [String: String]
    /// The cluster NIC's address, as Neutron would hand it out in network_data.json.
    public var network: GuestNetwork?
    /// /etc/hosts as a site's user-data would write it (the only user-data an instance gets).
    public var etcHosts: String?

    public init(instanceID: String, hostname: String, publicKeys: [String: String], network: GuestNetwork? = nil, etcHosts: String? = nil) {
        self.instanceID = instanceID
        self.hostname = hostname
        self.publicKeys = publicKeys
        self.network = network
        self.etcHosts = etcHosts
    }
}
