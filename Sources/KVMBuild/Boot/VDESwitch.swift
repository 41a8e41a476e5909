import Foundation
import KVMBuildSupport
import Synchronization

/// A guest-only Ethernet segment: a `vde_switch` process that guests join through a unix socket
/// in a private folder. It has no tap device and the host no address on it, so only the guests
/// plugged into the socket see its frames and nothing on it can leave the machine.
public final class VDESwitch: Sendable {
    public let directory: String
    /// The switch's socket folder, what QEMU's `-netdev vde,sock=` names.
    public var socket: String { directory + "/switch" }
    private var pidFile: String { directory + "/switch.pid" }
    private let pid = Mutex<pid_t?>(nil)

    private init(directory: String) { self.directory = directory }

    /// Starts a switch in `directory` (created 0700; the sockets 0600).
    public static func start(in directory: String) async throws -> VDESwitch {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let segment = VDESwitch(directory: directory)
        guard ProcessSpec.which("vde_switch") != nil else {
            throw KVMBuildError(.toolMissing, "vde_switch is not installed (the cluster test's guest-only network)", fix: "run scripts/setup-host.sh (Debian package vde2)")
        }
        // -d: it daemonizes once the socket exists, so the socket is ready when this returns.
        try await ProcessRunner.checked(ProcessSpec("vde_switch", [
            "-d", "-s", segment.socket, "-m", "600", "--dirmode", "700", "-M", directory + "/switch.mgmt", "--mgmtmode", "600",
            "-p", segment.pidFile,
        ]), fix: "run scripts/setup-host.sh (Debian package vde2)")
        guard let text = try? String(contentsOfFile: segment.pidFile, encoding: .utf8),
              let value = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw KVMBuildError(.io, "vde_switch wrote no pid file in \(directory)", fix: "run vde_switch by hand to see why it fails")
        }
        segment.pid.withLock { $0 = value }
        return segment
    }

    /// Ends the switch (by the PID it wrote, and only if that process is still our switch) and
    /// removes its folder.
    public func stop() {
        pid.withLock { pid in
            // SIGTERM: the switch removes its own sockets and exits; nothing waits on it.
            if let value = pid, Self.isOurSwitch(value, socket: socket) { kill(value, SIGTERM) }
            pid = nil
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A PID is reused once its process is gone: kill it only while its command line still names
    /// this switch's socket.
    private static func isOurSwitch(_ pid: pid_t, socket: String) -> Bool {
        guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return args.first.map { $0.hasSuffix("vde_switch") } == true && args.contains(socket)
    }
}
