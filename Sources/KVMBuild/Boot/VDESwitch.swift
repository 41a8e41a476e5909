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
        // The daemonized child writes the pid file after its parent has exited: wait for it.
        var value: pid_t?
        for _ in 0..<100 {
            if let text = try? String(contentsOfFile: segment.pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                value = pid
                break
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        guard let value else {
            throw KVMBuildError(.io, "vde_switch wrote no pid file in \(directory)", fix: "run vde_switch by hand to see why it fails")
        }
        segment.pid.withLock { $0 = value }
        return segment
    }

    /// Ends the switch (by the PID it wrote, and only if that process is still our switch) and
    /// removes its folder.
    public func stop() {
        pid.withLock { pid in
            // SIGTERM: the switch removes its own sockets and exits. Its folder goes after that
            // (removed while it still exits, a socket could outlive it); it exits within
            // milliseconds, so the wait is bounded to 200 ms.
            if let value = pid, Self.isOurSwitch(value, socket: socket) {
                kill(value, SIGTERM)
                for _ in 0..<20 where Self.isOurSwitch(value, socket: socket) { usleep(10_000) }
            }
            pid = nil
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops every switch whose socket lies under `prefix` (a dead build's folder): its guests are
    /// gone, so its segment is too. Returns what it stopped.
    public static func stopAll(under prefix: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { pid_t($0) } ?? []
        return pids.compactMap { pid in
            guard let args = ProcFS.commandLine(pid), args.first.map({ $0.hasSuffix("vde_switch") }) == true,
                  let socket = args.first(where: { $0.hasPrefix(prefix) }) else { return nil }
            kill(pid, SIGTERM)
            return "vde_switch \(pid) (\(socket))"
        }
    }

    /// A PID is reused once its process is gone: kill it only while its command line still names
    /// this switch's socket.
    private static func isOurSwitch(_ pid: pid_t, socket: String) -> Bool {
        guard let args = ProcFS.commandLine(pid) else { return false }
        return args.first.map { $0.hasSuffix("vde_switch") } == true && args.contains(socket)
    }
}
