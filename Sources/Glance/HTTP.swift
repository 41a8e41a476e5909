import AsyncHTTPClient
import Foundation
import KVMBuildSupport
import NIOCore
import NIOHTTP1

/// A JSON-speaking HTTP session with one error style for every OpenStack call.
/// Tokens travel in headers and are never logged.
struct HTTP: Sendable {
    let client: HTTPClient

    struct Response: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: Data
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    }

    func send(_ method: HTTPMethod, _ url: String, token: String? = nil, json: Any? = nil, contentType: String = "application/json",
              timeout: TimeAmount = .seconds(60)) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kvmbuild")
        if let token { request.headers.add(name: "X-Auth-Token", value: token) }
        if let json {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        return try await execute(request, timeout: timeout)
    }

    func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> Response {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch let error as CancellationError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw KVMBuildError(.io, "\(request.method) \(Self.redact(request.url)) failed: \(error)", fix: "check that the endpoint is reachable")
        }
        let body = try await response.body.collect(upTo: 16 << 20)
        return Response(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    /// The part of a URL safe to print.
    static func redact(_ url: String) -> String { url.split(separator: "?").first.map(String.init) ?? url }
}

extension HTTP.Response {
    /// Throws a KVMBuildError unless the status is one of `expected`.
    func require(_ expected: Set<Int>, _ what: String, fix: String) throws -> HTTP.Response {
        guard expected.contains(status) else {
            let detail = (json["error"] as? [String: Any])?["message"] as? String
                ?? String(decoding: body.prefix(300), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            throw KVMBuildError(.io, "\(what): HTTP \(status) \(detail)".trimmingCharacters(in: .whitespaces), fix: fix)
        }
        return self
    }
}
