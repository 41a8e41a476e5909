import Foundation
import KVMBuildSupport
import Synchronization

/// A TCP port on 127.0.0.1 held for one build. Builds running at once coordinate through
/// per-port lock files (flock): the lock lives as long as this process, so a crashed build
/// frees its claim, and a port some other program listens on is skipped by a bind test. A
/// release removes its lock file (a crashed build's stays until that port is next reserved
/// and released), so the lock folder does not grow with every build.
public final class PortReservation: Sendable {
    public let port: Int
    private let lockFile: String
    /// The flocked lock file; -1 once released (release may race a deinit on another task).
    private let fd: Mutex<Int32>

    private init(port: Int, lockFile: String, fd: Int32) {
        self.port = port
        self.lockFile = lockFile
        self.fd = Mutex(fd)
    }

    deinit { release() }

    /// Unlinked while still locked: a reserver that opened the old file before the unlink
    /// finds, once it holds the lock, that the path no longer names its file, and tries again.
    public func release() {
        fd.withLock { fd in
            if fd >= 0 {
                unlink(lockFile)
                close(fd)
                fd = -1
            }
        }
    }

    public static let defaultRange = 2222...2999

    public static func reserve(lockDirectory: String, range: ClosedRange<Int> = defaultRange) throws -> PortReservation {
        try FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true)
        // Start at a random offset so parallel builds rarely contend for the same lock.
        let offset = Int.random(in: 0..<range.count)
        for i in 0..<range.count {
            let port = range.lowerBound + (offset + i) % range.count
            let path = "\(lockDirectory)/\(port).lock"
            let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0, isStill(path, fd), isFree(port) {
                return PortReservation(port: port, lockFile: path, fd: fd)
            }
            close(fd)
        }
        throw KVMBuildError(.io, "no free port on 127.0.0.1 in \(range)", fix: "stop other builds or free a port in that range")
    }

    /// Removes the lock files no live build holds (builds that crashed, or made before releases
    /// removed their files); returns how many. A held lock is never touched.
    public static func removeStaleLocks(in lockDirectory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: lockDirectory)) ?? []
        var removed = 0
        for name in names where name.hasSuffix(".lock") {
            let path = lockDirectory + "/" + name
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0, isStill(path, fd), unlink(path) == 0 { removed += 1 }
            close(fd)
        }
        return removed
    }

    /// Whether `path` still names the file `fd` locked (a release may have unlinked it meanwhile).
    private static func isStill(_ path: String, _ fd: Int32) -> Bool {
        var locked = stat(), named = stat()
        return fstat(fd, &locked) == 0 && stat(path, &named) == 0 && locked.st_ino == named.st_ino && locked.st_dev == named.st_dev
    }

    /// True when nothing listens on 127.0.0.1:port (qemu binds it right after).
    /// SO_REUSEADDR makes this ask "does anything listen?": connections of a guest that is gone
    /// linger in TIME_WAIT and would fail a plain bind, while qemu (slirp) reuses such ports too.
    static func isFree(_ port: Int) -> Bool {
        Loopback.withSocket(port: port) { sock, addr, length in
            var one: Int32 = 1
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            return bind(sock, addr, length) == 0
        } ?? false
    }
}
