import Foundation

/// What a booted instance of a target's image must show (`test:` in kvmbuild.yml): the image is
/// booted the way Nova boots it, and these checks run over SSH as the image's default user.
public struct TestSpec: Sendable, Codable, Equatable {
    public struct FileCheck: Sendable, Codable, Equatable {
        public var path: String
        public var owner: String?
        public var mode: String?
    }

    public struct CommandCheck: Sendable, Codable, Equatable {
        /// Run with `sudo sh -c`.
        public var run: String
        public var exitCode: Int32 = 0
        /// A substring the output (stdout and stderr) must contain.
        public var outputContains: String?
    }

    /// The image's cloud-init default user, who gets the test key (debian on Debian's cloud
    /// images, rocky on Rocky's, cloud-user on RHEL's).
    public var user = "debian"
    /// systemd units that must be active, enabled, or not active on the running instance.
    public var active: [String] = []
    public var enabled: [String] = []
    public var inactive: [String] = []
    public var files: [FileCheck] = []
    public var commands: [CommandCheck] = []
    /// An Ansible play run against the instance, in a `test` group, for anything else.
    public var playbook: String?
    /// The instance's memory; the build's by default.
    public var memoryMiB: Int?
    /// A Slurm cluster of this image's instances and a controller, run with `--test-cluster`.
    public var slurmCluster: SlurmClusterSpec?

    public init() {}

    public var isEmpty: Bool { active.isEmpty && enabled.isEmpty && inactive.isEmpty && files.isEmpty && commands.isEmpty && playbook == nil }
}

/// `test: slurm_cluster:` — a controller built from the target's playbook (its `control` play)
/// and `nodes` instances of the image on a guest-only network; see SlurmClusterTest.
public struct SlurmClusterSpec: Sendable, Codable, Equatable {
    public var nodes = 2
    public var memoryMiB = 512
    public var controllerMemoryMiB = 768
    /// The names the image's slurmd (`--conf-server`) and fstab (NFS sources) reach the cluster
    /// by; every one resolves to the controller, whose hostname is the first.
    public var controllerNames = ["slurm-control", "nfs-server"]

    public init() {}
}
