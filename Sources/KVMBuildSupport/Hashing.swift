import Crypto
import Foundation
import Synchronization

public enum Hashing {
    /// sha256 of a file as lowercase hex, read in 1 MiB chunks (constant memory).
    public static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KVMBuildError(.notFound, "cannot read \(path)", fix: "check the path and its permissions")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    public static func sha256(of data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// What an export is known by: sha256 (its checksum file), and the md5 and sha512 Glance
    /// computes of what it stores, so an upload compares Glance's against these instead of
    /// hashing the file again while it sends. Each on its own thread, reading the file (from the
    /// page cache, as it was just written); blocking: call from `runBlocking`.
    public static func imageDigests(ofFile path: String) throws -> ImageDigests {
        let results = Mutex<[Int: Result<String, Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: 3) { index in
            let result = Result<String, Error> {
                switch index {
                case 0: return try digest(ofFile: path, SHA256())
                case 1: return try digest(ofFile: path, Insecure.MD5())
                default: return try digest(ofFile: path, SHA512())
                }
            }
            results.withLock { $0[index] = result }
        }
        let done = results.withLock { $0 }
        return ImageDigests(sha256: try done[0]!.get(), md5: try done[1]!.get(), sha512: try done[2]!.get())
    }

    private static func digest<H: HashFunction>(ofFile path: String, _ start: H) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KVMBuildError(.notFound, "cannot read \(path)", fix: "check the path and its permissions")
        }
        defer { try? handle.close() }
        var hasher = start
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

public struct ImageDigests: Sendable, Equatable {
    public let sha256: String
    public let md5: String
    public let sha512: String
}
