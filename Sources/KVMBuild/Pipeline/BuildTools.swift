import Ansible
import Foundation
import KVMBuildSupport
import Libvirt

/// Every outside program or library a build's phases drive, the role of packer-plugin-qemu's
/// `Driver`: the phases decide what happens in which order and what to undo; these only do it.
/// `BuildTools.host` is the real thing (libvirt, qemu-img, libguestfs, ssh, ansible-playbook);
/// unit tests hand the real phases doubles, so their order, cleanups and failure handling are
/// tested without a guest.
public struct BuildTools: Sendable {
    /// Opens the hypervisor connection for the preflight (libvirt at the given URI).
    public var connectGuests: @Sendable (_ uri: String) throws -> any GuestDriver
    public var images: any DiskImageTool
    public var sealer: any DiskSealer
    /// A shell into the build guest on a forwarded port of 127.0.0.1.
    public var shell: @Sendable (_ login: GuestLogin) -> any GuestShell
    public var playbooks: any PlaybookDriver

    public init(connectGuests: @escaping @Sendable (String) throws -> any GuestDriver, images: any DiskImageTool, sealer: any DiskSealer,
                shell: @escaping @Sendable (GuestLogin) -> any GuestShell, playbooks: any PlaybookDriver) {
        self.connectGuests = connectGuests
        self.images = images
        self.sealer = sealer
        self.shell = shell
        self.playbooks = playbooks
    }

    public static let host = BuildTools(
        connectGuests: { LibvirtGuestDriver(connection: try Connection(uri: $0)) },
        images: QemuImgTool(), sealer: GuestfsSealer(),
        shell: { SSHClient(port: $0.port, user: $0.user, privateKey: $0.privateKey, knownHosts: $0.knownHosts) },
        playbooks: AnsiblePlaybookDriver())
}

/// qemu-img, for the disks of a build.
public protocol DiskImageTool: Sendable {
    /// A qcow2 overlay on `backing` (4 KiB clusters), grown to `sizeBytes` when given.
    func createOverlay(_ path: String, backing: String, backingFormat: String, sizeBytes: Int64?) async throws
    /// The standalone compressed export; returns qemu-img's exit code (its output goes to the terminal).
    func exportCompressed(_ source: String, to destination: String, compression: String, showProgress: Bool) async throws -> Int32
    /// A sparse raw copy, for the secret scan.
    func rawCopy(_ source: String, to destination: String) async throws
    func check(_ path: String) async throws
    func info(_ path: String, format: String) async throws -> QemuImg.Info
}

/// libguestfs: seals the stopped guest's disk and checks it in one appliance.
public protocol DiskSealer: Sendable {
    func sealAndCheck(_ sealer: ImageSealer, _ checks: ImageChecks) async throws -> ImageSealer.Result
}

/// How the build logs in to its guest.
public struct GuestLogin: Sendable, Equatable {
    public let port: Int
    public let user: String
    public let privateKey: String
    public let knownHosts: String
}

/// ssh into the build guest.
public protocol GuestShell: Sendable {
    /// Whether sshd answers on the port (its `SSH-` banner), before any login.
    func answers() -> Bool
    func run(_ command: [String], stdin: Data?, timeout: TimeInterval) async throws -> ProcessResult
}

extension GuestShell {
    func run(_ command: [String], timeout: TimeInterval) async throws -> ProcessResult { try await run(command, stdin: nil, timeout: timeout) }
}

/// ansible-playbook.
public protocol PlaybookDriver: Sendable {
    /// Runs the play, streaming its lines to `echo`; returns ansible-playbook's exit code.
    func run(_ play: PlaybookRun, colour: Bool, echo: @escaping @Sendable (String) -> Void) async throws -> Int32
}

struct QemuImgTool: DiskImageTool {
    func createOverlay(_ path: String, backing: String, backingFormat: String, sizeBytes: Int64?) async throws {
        // 4 KiB clusters, the filesystems' block size: when the seal trims free space, every freed
        // block is a whole cluster that qcow2 turns into zeros. With the default 64 KiB, freed
        // blocks that share a cluster with live data keep their old bytes (deleted cloud-init
        // data, a play's temp files) and the export would copy them.
        var args = ["create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-F", backingFormat, "-b", backing, path]
        if let sizeBytes { args.append(String(sizeBytes)) }
        try await ProcessRunner.checked(ProcessSpec("qemu-img", args))
    }

    func exportCompressed(_ source: String, to destination: String, compression: String, showProgress: Bool) async throws -> Int32 {
        // -W -m 8: out-of-order writes with 8 coroutines; compression is CPU-bound and this
        // keeps both cores busy (measured 22 s → 14 s on the default image). zstd by default:
        // 15 s where zlib took 39 s on the same disk (see ImageCompression).
        var args = ["convert", "-f", "qcow2", "-c", "-O", "qcow2", "-o", "compression_type=\(compression)", "-W", "-m", "8"]
        if showProgress { args.append("-p") }
        return try await ProcessRunner.runInheritingOutput(ProcessSpec("qemu-img", args + [source, destination]))
    }

    func rawCopy(_ source: String, to destination: String) async throws {
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-q", "-f", "qcow2", "-O", "raw", "-S", "4k", source, destination]),
                                        fix: "check free space in \((destination as NSString).deletingLastPathComponent)")
    }

    func check(_ path: String) async throws { try await QemuImg.check(path) }

    func info(_ path: String, format: String) async throws -> QemuImg.Info { try await QemuImg.info(path, format: format) }
}

struct GuestfsSealer: DiskSealer {
    func sealAndCheck(_ sealer: ImageSealer, _ checks: ImageChecks) async throws -> ImageSealer.Result { try await sealer.sealAndCheck(checks) }
}

extension SSHClient: GuestShell {
    public func answers() -> Bool { SSHBanner.answers(port: port) }
}

struct AnsiblePlaybookDriver: PlaybookDriver {
    func run(_ play: PlaybookRun, colour: Bool, echo: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        try await play.run(colour: colour, echo: echo)
    }
}
