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

    /// Sends the request. A redirect is followed (at most 3) only to the same scheme, host and
    /// port and only for requests without a streamed body: the token travels in a header, and a
    /// redirect to another host or from https to http would hand it over.
    func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> Response {
        var request = request
        for _ in 0...3 {
            let response = try await once(request, timeout: timeout)
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.headers.first(name: "Location") else { return response }
            guard let from = URL(string: request.url), let to = URL(string: location, relativeTo: from)?.absoluteURL,
                  Self.sameOrigin(from, to) else {
                throw KVMBuildError(.io, "\(request.method) \(Redactions.url(request.url)) was redirected to \(Redactions.url(location)); not followed, it would carry the token to another host or off https",
                                    fix: "use the endpoint the redirect names directly (auth_url, or --image-endpoint) if you trust it")
            }
            if response.status == 303 { request.method = .GET; request.body = nil }
            request.url = to.absoluteString
        }
        throw KVMBuildError(.io, "\(request.method) \(Redactions.url(request.url)): too many redirects", fix: "check the endpoint URL")
    }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func port(_ url: URL) -> Int? { url.port ?? (url.scheme == "https" ? 443 : url.scheme == "http" ? 80 : nil) }
        return a.scheme?.lowercased() == b.scheme?.lowercased() && a.host?.lowercased() == b.host?.lowercased() && port(a) == port(b)
    }

    private func once(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> Response {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch let error as CancellationError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            let text = "\(error)"
            let tls = text.contains("SSL") || text.contains("TLS") || text.contains("certificate") || text.contains("handshake")
            throw KVMBuildError(.io, "\(request.method) \(Redactions.url(request.url)) failed: \(text)",
                                fix: tls ? "the server's certificate is not trusted: set cacert in clouds.yaml (or OS_CACERT) to its CA bundle"
                                         : "check that the endpoint is reachable")
        }
        let body = try await response.body.collect(upTo: 16 << 20)
        return Response(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }
}

extension HTTP.Response {
    /// Throws a KVMBuildError unless the status is one of `expected`.
    func require(_ expected: Set<Int>, _ what: String, fix: String) throws -> HTTP.Response {
        guard expected.contains(status) else {
            throw KVMBuildError(.io, "\(what): HTTP \(status) \(plainMessage)".trimmingCharacters(in: .whitespaces), fix: Self.fix(for: status) ?? fix)
        }
        return self
    }

    /// The server's explanation as one line of text: OpenStack's JSON error, or an HTML error
    /// page (webob's, as Glance sends for 403) with its tags removed.
    var plainMessage: String {
        if let error = json["error"] as? [String: Any], let message = error["message"] as? String { return message }
        if let message = json["message"] as? String { return message }
        var text = String(decoding: body.prefix(2000), as: UTF8.self)
        if text.contains("<") {
            text = text.replacingOccurrences(of: "<title>[^<]*</title>", with: " ", options: .regularExpression)
                .replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
        }
        let words = text.split(whereSeparator: { $0.isWhitespace })
        return words.joined(separator: " ").prefix(300).description
    }

    /// What an OpenStack status means for the user, where it does not depend on the call.
    static func fix(for status: Int) -> String? {
        switch status {
        case 401: "the token or credentials were refused: check the password or application credential (clouds.yaml, secure.yaml or OS_*)"
        case 403: "the cloud's policy does not allow this for your role (public or community images usually need an admin): ask the cloud's operator, or use private or shared visibility"
        case 409: "the image is in a state that does not allow this (e.g. still being uploaded, or deactivated): wait, or check it with openstack image show"
        case 413: "over the project's image storage quota: delete old images or ask for more quota"
        default: nil
        }
    }
}
