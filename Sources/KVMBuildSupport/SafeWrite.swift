import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes that never crash the process. Foundation's non-throwing `FileHandle.write` traps on
/// any error, so a closed stdout pipe (a dropped SSH session, `kvmbuild … | head`) or a full disk
/// under a log would kill a build with its guest still running. These return the errno instead.
public enum SafeWrite {
    /// Writes all of `data` to `fd`; retries on EINTR. Returns 0 or the errno of the failure.
    @discardableResult
    public static func all(_ data: Data, to fd: Int32) -> Int32 {
        data.withUnsafeBytes { raw -> Int32 in
            guard var pointer = raw.baseAddress else { return 0 }
            var left = raw.count
            while left > 0 {
                let n = Glibc.write(fd, pointer, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                pointer += n
                left -= n
            }
            return 0
        }
    }

    /// Creates `path` afresh, mode 0600 from the first byte (never world-readable, whatever the
    /// umask), and writes `data`: for files that hold secrets or values that might be.
    public static func privateFile(_ path: String, contents data: Data) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KVMBuildError(.io, "cannot write \(path): \(String(cString: strerror(errno)))", fix: "check the build folder") }
        defer { close(fd) }
        let code = all(data, to: fd)
        guard code == 0 else { throw KVMBuildError(.io, "cannot write \(path): \(String(cString: strerror(code)))", fix: "free space in the build folder") }
    }
}

/// A log file that reports its first write error instead of trapping: the build checks
/// `failure` and stops through its normal cleanup ("disk full", or the errno).
public final class LogFile: Sendable {
    public let path: String
    private let fd: Int32
    private let firstError = Mutex<Int32>(0)

    /// Creates (truncates) the file, mode 0600.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw KVMBuildError(.io, "cannot write \(path): \(String(cString: strerror(errno)))", fix: "check the build folder's permissions and free space")
        }
    }

    deinit { close(fd) }

    public func write(_ text: String) {
        let code = SafeWrite.all(Data(text.utf8), to: fd)
        if code != 0 { firstError.withLock { if $0 == 0 { $0 = code } } }
    }

    /// The first write error as a build failure, or nil while every write succeeded.
    public var failure: KVMBuildError? {
        let code = firstError.withLock { $0 }
        guard code != 0 else { return nil }
        let what = code == ENOSPC ? "disk full" : String(cString: strerror(code))
        return KVMBuildError(.io, "cannot write \(path): \(what)", fix: "free space under \((path as NSString).deletingLastPathComponent) and build again")
    }
}
