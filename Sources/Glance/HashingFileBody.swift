import Crypto
import Foundation
import KVMBuildSupport
import NIOCore

public struct FileHashes: Sendable, Equatable {
    public let md5: String
    public let sha512: String
    public let bytes: Int64
}

/// The request body: a file read in 256 KiB chunks as the HTTP client asks for them (so memory
/// stays flat whatever the size), with md5 and sha512 computed in the same pass.
struct HashingFileBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let progress: (@Sendable (Int64) -> Void)?
    let state = HashState()

    final class HashState: @unchecked Sendable {
        private let lock = NSLock()
        private var md5 = Insecure.MD5()
        private var sha512 = SHA512()
        private var bytes: Int64 = 0

        var bytesSent: Int64 { lock.withLock { bytes } }

        func update(_ data: Data) -> Int64 {
            lock.withLock {
                md5.update(data: data)
                sha512.update(data: data)
                bytes += Int64(data.count)
                return bytes
            }
        }

        func finish(expectedBytes: Int64) -> FileHashes? {
            lock.withLock {
                guard bytes == expectedBytes else { return nil }
                return FileHashes(md5: Hashing.hex(md5.finalize()), sha512: Hashing.hex(sha512.finalize()), bytes: bytes)
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
