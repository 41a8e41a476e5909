import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The base image over HTTP, from a local mirror (Fixtures/http_fronts.py files, 127.0.0.1):
/// streamed through kvmbuild's own HTTP client into the cache, redirects followed, and a
/// missing image a one-line error that leaves nothing in the cache.
@Suite struct BaseImageDownloadTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-download") }

    func mirror(_ bytes: Int) throws -> (server: LocalServer, sha: String) {
        let root = scratch.path + "/mirror"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var data = Data(count: bytes)
        data.withUnsafeMutableBytes { for i in 0..<$0.count { $0[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) } }
        try data.write(to: URL(fileURLWithPath: root + "/base.qcow2"))
        return (try LocalServer(["files", root]), try Hashing.sha256(ofFile: root + "/base.qcow2"))
    }

    func quiet() -> Console { let console = Console(); console.minimumLevel = .error; return console }

    @Test func anImageIsStreamedIntoTheCacheThroughARedirect() async throws {
        let (server, sha) = try mirror(9 << 20 + 123)
        defer { server.stop() }
        let cache = ImageCache(cacheDirectory: scratch.path + "/cache")
        let image = try await cache.fetch(source: "http://127.0.0.1:\(server.port)/moved/base.qcow2", checksum: "sha256:\(sha)", console: quiet())
        #expect(image.path == scratch.path + "/cache/images/" + sha)
        #expect(try Hashing.sha256(ofFile: image.path) == sha)
        let requests = try String(contentsOfFile: scratch.path + "/requests", encoding: .utf8)
        #expect(requests == "GET /moved/base.qcow2\nGET /base.qcow2\n", "one redirect, one download")
    }

    @Test func aMissingImageIsAOneLineErrorAndLeavesNothing() async throws {
        let (server, sha) = try mirror(1 << 20)
        defer { server.stop() }
        let error = await #expect(throws: KVMBuildError.self) {
            try await ImageCache(cacheDirectory: self.scratch.path + "/cache")
                .fetch(source: "http://127.0.0.1:\(server.port)/gone.qcow2?token=s3cr3t", checksum: "sha256:\(sha)", console: self.quiet())
        }
        #expect(error?.message.hasPrefix("downloading http://127.0.0.1:\(server.port)/gone.qcow2: HTTP 404") == true, "\(String(describing: error))")
        #expect(error?.message.contains("s3cr3t") == false, "a URL's query (a mirror's token) is not printed")
        #expect(error?.fix?.contains("base_image.source") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache/images").isEmpty, "no partial file stays")
    }

    @Test func aRefusedConnectionIsRetriedThenNamed() async throws {
        // A port nobody listens on: bound and closed again.
        let (server, sha) = try mirror(1 << 10)
        let port = server.port
        server.stop()
        var cache = ImageCache(cacheDirectory: scratch.path + "/cache")
        cache.download = .init(attempts: 2, connectTimeout: .seconds(2))
        let impatient = cache
        let started = Date()
        let error = await #expect(throws: KVMBuildError.self) {
            try await impatient.fetch(source: "http://127.0.0.1:\(port)/base.qcow2", checksum: "sha256:\(sha)", console: self.quiet())
        }
        #expect(error?.message.hasPrefix("downloading http://127.0.0.1:\(port)/base.qcow2 failed") == true, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(started) >= 4, "both attempts ran out their connect time")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache/images").isEmpty)
    }
}
