import AsyncHTTPClient
import Foundation
import KVMBuildSupport
import NIOCore

/// A base image streamed over HTTP(S) with the HTTP client kvmbuild already links (no curl):
/// chunks go to the cache's hashing writer as they arrive. Redirects are followed (mirrors
/// redirect, and no credential travels with the request); a connection that fails before the
/// first byte is tried again, a stalled one fails after two minutes without data.
struct BaseImageDownload: Sendable {
    struct Settings: Sendable {
        var attempts = 2
        /// The HTTP client itself keeps retrying a refused connection until this passes.
        var connectTimeout = TimeAmount.seconds(20)
        var readTimeout = TimeAmount.seconds(120)
        static let standard = Settings()
    }

    let url: String
    var settings = Settings.standard

    func stream(_ consume: @escaping @Sendable (Data) throws -> Void) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            redirectConfiguration: .follow(max: 5, allowCycles: false), timeout: .init(connect: settings.connectTimeout, read: settings.readTimeout)))
        do {
            try await streamRetrying(client, consume)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func streamRetrying(_ client: HTTPClient, _ consume: @escaping @Sendable (Data) throws -> Void) async throws {
        var attempt = 1
        while true {
            var received = false
            do {
                try await once(client) { chunk in
                    received = true
                    try consume(chunk)
                }
                return
            } catch let error as KVMBuildError {
                throw error
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                // Bytes already hashed cannot be taken back: only a failure before the first retries.
                guard !received, attempt < settings.attempts else {
                    throw KVMBuildError(.io, "downloading \(Redactions.url(url)) failed: \(error)", fix: "check the URL and the network; the next build fetches it again")
                }
                attempt += 1
                try await Task.sleep(nanoseconds: UInt64(attempt) * 1_000_000_000)
            }
        }
    }

    private func once(_ client: HTTPClient, _ consume: (Data) throws -> Void) async throws {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "kvmbuild")
        let response = try await client.execute(request, timeout: .hours(12))
        guard response.status == .ok else {
            throw KVMBuildError(.io, "downloading \(Redactions.url(url)): HTTP \(response.status.code) \(response.status.reasonPhrase)",
                                fix: response.status == .notFound ? "fix base_image.source (the mirror may have moved the image)" : "check the URL and the server")
        }
        for try await buffer in response.body {
            try Task.checkCancellation()
            try consume(Data(buffer.readableBytesView))
        }
    }
}
