import Foundation
import KVMBuildSupport
import Synchronization

/// A file held open with a flock on it, until `unlock()` or the end of the process (a crashed
/// holder frees it). Opened close-on-exec, so a daemon started while it is held never keeps it.
final class FileLock: Sendable {
    /// -1 once unlocked.
    private let fd: Mutex<Int32>

    private init(fd: Int32) { self.fd = Mutex(fd) }

    deinit { unlock() }

    /// The lock on `path` (created 0600); with `wait: false`, nil when another holder's lock
    /// conflicts. A blocking acquire belongs off the cooperative pool (runBlocking).
    static func acquire(_ path: String, exclusive: Bool, wait: Bool = true) throws -> FileLock? {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KVMBuildError(.io, "cannot open \(path): \(String(cString: strerror(errno)))", fix: "check the permissions of \(URL(fileURLWithPath: path).deletingLastPathComponent().path)")
        }
        var operation = exclusive ? LOCK_EX : LOCK_SH
        if !wait { operation |= LOCK_NB }
        while flock(fd, operation) != 0 {
            let failure = errno
            if failure == EINTR { continue }
            close(fd)
            if failure == EWOULDBLOCK { return nil }
            throw KVMBuildError(.io, "cannot lock \(path): \(String(cString: strerror(failure)))", fix: "check the file system of \(path)")
        }
        return FileLock(fd: fd)
    }

    var isHeld: Bool { fd.withLock { $0 >= 0 } }

    func unlock() {
        fd.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}
