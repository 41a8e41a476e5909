import Crypto
import Foundation
import KVMBuildSupport

/// A random key that never leaves this build host (`<cache>/host-secret`, 0600), for digests of
/// secrets that end up in manifests and fingerprints: a plain sha256 of a munge key or a password
/// would let anyone who reads the manifest test guesses offline; an HMAC under this key does not.
public struct HostSecret: Sendable {
    /// The raw 32 bytes (SymmetricKey is not Sendable; Data is).
    private let keyBytes: Data

    public init(key: SymmetricKey) { keyBytes = key.withUnsafeBytes { Data($0) } }

    /// Loads the key, creating it (exclusively, 0600) on first use.
    public static func load(cacheDirectory: String) throws -> HostSecret {
        let path = cacheDirectory + "/host-secret"
        try PrivateDirectory.create(cacheDirectory)
        if let data = FileManager.default.contents(atPath: path), data.count == 32 {
            return HostSecret(key: SymmetricKey(data: data))
        }
        let fresh = SymmetricKey(size: .bits256)
        let bytes = fresh.withUnsafeBytes { Data($0) }
        let temp = "\(path).\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KVMBuildError(.io, "cannot create \(temp): \(String(cString: strerror(errno)))", fix: "check permissions of \(cacheDirectory)") }
        let code = SafeWrite.all(bytes, to: fd)
        close(fd)
        // link(2) fails if another build created it meanwhile: then both use that one.
        if code == 0 { _ = link(temp, path) }
        unlink(temp)
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw KVMBuildError(.io, "cannot read \(path)", fix: "remove it; kvmbuild makes a new one (old builds then count as changed)")
        }
        return HostSecret(key: SymmetricKey(data: data))
    }

    /// HMAC-SHA256 of `data` under the host key, hex.
    public func digest(_ data: Data) -> String {
        Hashing.hex(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: keyBytes)))
    }
}

/// Folders that hold build outputs and caches: created 0700, and tightened to 0700 when this user
/// owns them but left them open (a checkout's build/ is 0755 from git). A site that shares
/// outputs with a group says so with --output-group.
public enum PrivateDirectory {
    public static func create(_ path: String, group: gid_t? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KVMBuildError(.io, "cannot create \(path)", fix: "check permissions and free space", cause: error)
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_uid == getuid() else { return }
        if let group {
            _ = chown(path, uid_t.max, group)
            _ = chmod(path, 0o750)
        } else if st.st_mode & 0o077 != 0 {
            _ = chmod(path, 0o700)
        }
    }
}
