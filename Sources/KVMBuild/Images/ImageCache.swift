import Crypto
import Foundation
import KVMBuildSupport
import Synchronization

/// A base image in the content-addressed cache: `<cache>/images/<sha256>`, verified.
public struct CachedImage: Sendable, Codable {
    public let path: String
    public let sha256: String
    public let source: String
}

/// Fetches base images into `<cache>/images/<sha256>`, hashing while copying. A file appears under
/// its hash name only after its hash matched, so a killed or wrong download never poisons the cache.
public struct ImageCache: Sendable {
    public let directory: String
    var download = BaseImageDownload.Settings.standard

    public init(cacheDirectory: String) { directory = cacheDirectory + "/images" }

    public func fetch(source: String, checksum: String, console: Console) async throws -> CachedImage {
        let expected = try Checksum.parse(checksum)
        let final = directory + "/" + expected
        if FileManager.default.fileExists(atPath: final) {
            // Hashed again before every use (about a second per GiB): a cache entry changed
            // behind kvmbuild's back must not become the base of an image.
            let actual = try await runBlocking { try Hashing.sha256(ofFile: final) }
            if actual == expected {
                console.debug("base image \(expected.prefix(12)) already cached, sha256 verified")
                return CachedImage(path: final, sha256: expected, source: source)
            }
            console.warning("cached base image \(final) no longer matches its sha256 (now \(actual.prefix(16))…): removed; fetching it again")
            try? FileManager.default.removeItem(atPath: final)
        }
        try PrivateDirectory.create((directory as NSString).deletingLastPathComponent)
        try PrivateDirectory.create(directory)
        let partial = "\(final).partial.\(getpid())"
        _ = FileManager.default.createFile(atPath: partial, contents: nil)
        guard let output = FileHandle(forWritingAtPath: partial) else {
            throw KVMBuildError(.io, "cannot write \(partial)", fix: "check permissions of \(directory)")
        }
        let writer = HashingWriter(output: output)
        let progress = Progress(console: console)
        defer { progress.finish() }
        do {
            defer { try? output.close() }
            console.info("fetching base image \(source)")
            let started = Date()
            let received = Mutex<Int64>(0)
            try await stream(source) { chunk in
                try writer.write(chunk)
                let total = received.withLock { $0 += Int64(chunk.count); return $0 }
                let rate = Double(total) / max(Date().timeIntervalSince(started), 0.001)
                progress.update("fetching base image: \(Progress.bytes(total)) (\(Progress.bytes(Int64(rate)))/s)")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            if error is CancellationError || error is KVMBuildError { throw error }
            throw KVMBuildError(.io, "cannot fetch base image \(Redactions.url(source))", fix: "check the URL or path", cause: error)
        }
        let actual = writer.digest()
        guard actual == expected else {
            try? FileManager.default.removeItem(atPath: partial)
            throw KVMBuildError(.checksumMismatch, "base image \(source) has sha256 \(actual), expected \(expected)",
                                fix: "fix base_image.checksum, or the image is corrupt: fetch it again")
        }
        _ = chmod(partial, 0o400)  // a cache entry is never written again
        guard rename(partial, final) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw KVMBuildError(.io, "cannot move the verified image to \(final)")
        }
        return CachedImage(path: final, sha256: actual, source: source)
    }

    private func stream(_ source: String, _ consume: @escaping @Sendable (Data) throws -> Void) async throws {
        if source.hasPrefix("http://") || source.hasPrefix("https://") {
            try await BaseImageDownload(url: source, settings: download).stream(consume)
            return
        }
        let path = source.hasPrefix("file://") ? String(source.dropFirst(7)) : source
        guard let input = FileHandle(forReadingAtPath: path) else {
            throw KVMBuildError(.notFound, "base image \(path) not found", fix: "fix base_image.source")
        }
        defer { try? input.close() }
        while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty {
            try Task.checkCancellation()
            try consume(chunk)
        }
    }
}

/// Hashes and writes each chunk as it arrives (from whichever thread reads the source).
private final class HashingWriter: Sendable {
    private struct State {
        var hasher = SHA256()
        let output: FileHandle
    }
    private let state: Mutex<State>
    init(output: FileHandle) { state = Mutex(State(output: output)) }
    func write(_ chunk: Data) throws {
        try state.withLock { state in
            state.hasher.update(data: chunk)
            try state.output.write(contentsOf: chunk)
        }
    }
    func digest() -> String { state.withLock { Hashing.hex($0.hasher.finalize()) } }
}
