import Crypto
import Foundation
import KVMBuildSupport
import NIOCore
import Synchronization

public struct FileHashes: Sendable, Equatable {
    public let md5: String
    public let sha512: String
    public let bytes: Int64

    public init(md5: String, sha512: String, bytes: Int64) {
        self.md5 = md5
        self.sha512 = sha512
        self.bytes = bytes
    }
}

/// The request body: a file read in 256 KiB chunks as the HTTP client asks for them (so memory
/// stays flat whatever the size), with md5 and sha512 computed in the same pass unless the
/// file's hashes are already known (an export's, from its manifest).
struct HashingFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let progress: (@Sendable (Int64) -> Void)?
    let state: HashState

    init(path: String, hashing: Bool = true, progress: (@Sendable (Int64) -> Void)?) {
        self.path = path
        self.progress = progress
        state = HashState(hashing: hashing)
    }

    /// md5 + sha512 of the bytes sent so far, behind a Mutex: the body's reads and the
    /// uploader's final check come from different tasks.
    final class HashState: Sendable {
        private struct Hashes {
            var md5 = Insecure.MD5()
            var sha512 = SHA512()
            var bytes: Int64 = 0
        }
        private let hashes = Mutex(Hashes())
        let hashing: Bool

        init(hashing: Bool = true) { self.hashing = hashing }

        var bytesSent: Int64 { hashes.withLock { $0.bytes } }

        func update(_ data: Data) -> Int64 {
            hashes.withLock {
                if hashing {
                    $0.md5.update(data: data)
                    $0.sha512.update(data: data)
                }
                $0.bytes += Int64(data.count)
                return $0.bytes
            }
        }

        func finish(expectedBytes: Int64) -> FileHashes? {
            hashes.withLock {
                guard $0.bytes == expectedBytes else { return nil }
                return FileHashes(md5: Hashing.hex($0.md5.finalize()), sha512: Hashing.hex($0.sha512.finalize()), bytes: $0.bytes)
            }
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        /// Small enough that freed chunks go back to the OS instead of piling up in malloc arenas.
        static let chunkSize = 256 << 10
        let handle: FileHandle?
        let body: HashingFileBody

        mutating func next() async throws -> ByteBuffer? {
            try Task.checkCancellation()
            guard let handle, let chunk = try handle.read(upToCount: Self.chunkSize), !chunk.isEmpty else {
                try? handle?.close()
                return nil
            }
            let sent = body.state.update(chunk)
            body.progress?(sent)
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path), body: self) }
}

/// md5 + sha512 of a file in one pass, without uploading it (for the idempotency check).
func hashFile(_ path: String) throws -> FileHashes {
    let state = HashingFileBody.HashState()
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
    defer { try? handle.close() }
    var total: Int64 = 0
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { total = state.update(chunk) }
    return state.finish(expectedBytes: total)!
}
