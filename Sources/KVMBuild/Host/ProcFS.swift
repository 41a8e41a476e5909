import Foundation

/// What /proc says about a process: how kvmbuild tells its own daemons (vde_switch,
/// apt-cacher-ng) and builds from whatever process later got the same PID.
enum ProcFS {
    /// The process's arguments; nil once it is gone. A zombie has none (an empty list).
    static func commandLine(_ pid: pid_t) -> [String]? {
        FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Whether `pid` is a running kvmbuild: a recycled PID would be some other program.
    static func isKVMBuild(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        return commandLine(pid)?.contains { $0.contains("kvmbuild") } == true
    }

    /// Whether `pid` holds the socket listening on 127.0.0.1:port (from /proc/net/tcp).
    static func listens(pid: pid_t, port: Int) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return false }
        let local = String(format: "0100007F:%04X", port)
        let sockets = Set(table.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1] == local, fields[3] == "0A" else { return nil }
            return "socket:[\(fields[9])]"
        })
        guard !sockets.isEmpty, let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        return fds.contains { fd in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")).map(sockets.contains) == true }
    }
}
