import AsyncHTTPClient
import Foundation
import KVMBuildSupport
import NIOCore

/// A Keystone v3 token and the service catalog it came with.
public struct KeystoneSession: Sendable {
    public let token: String
    public let projectID: String?
    /// Glance's URL from the catalog (type `image`), interface and region honoured.
    public let imageEndpoint: String

    static func authenticate(_ credentials: CloudCredentials, http: HTTP, imageEndpointOverride: String?) async throws -> KeystoneSession {
        var identity: [String: Any]
        var scope: [String: Any]? = nil
        switch credentials.method {
        case let .password(username, password, userDomain):
            identity = ["methods": ["password"],
                        "password": ["user": ["name": username, "password": password, "domain": domainRef(userDomain)]]]
        case let .applicationCredential(id, name, secret, username, userDomain):
            var cred: [String: Any] = ["secret": secret]
            if let id { cred["id"] = id } else if let name {
                cred["name"] = name
                cred["user"] = ["name": username ?? "", "domain": domainRef(userDomain)]
            }
            identity = ["methods": ["application_credential"], "application_credential": cred]
        }
        if case .password = credentials.method {
            if let id = credentials.projectID {
                scope = ["project": ["id": id]]
            } else if let name = credentials.projectName {
                scope = ["project": ["name": name, "domain": domainRef(credentials.projectDomain)]]
            }
        }
        var auth: [String: Any] = ["identity": identity]
        if let scope { auth["scope"] = scope }
        let response = try await http.send(.POST, credentials.identityURL + "/auth/tokens", json: ["auth": auth], timeout: .seconds(30))
        if response.status == 401 {
            throw KVMBuildError(.invalidInput, "Keystone at \(credentials.authURL) rejected the credentials\(credentials.cloudName.map { " of cloud '\($0)'" } ?? "")",
                                fix: "check the password or application credential in clouds.yaml / OS_* variables")
        }
        _ = try response.require([201], "Keystone authentication at \(credentials.authURL)", fix: "check auth_url and the project scope")
        guard let token = response.headers.first(name: "X-Subject-Token") else {
            throw KVMBuildError(.io, "Keystone returned no X-Subject-Token", fix: "check that auth_url points at Keystone v3")
        }
        let body = response.json["token"] as? [String: Any] ?? [:]
        let projectID = (body["project"] as? [String: Any])?["id"] as? String
        let endpoint = try imageEndpointOverride ?? findImageEndpoint(catalog: body["catalog"] as? [[String: Any]] ?? [], credentials: credentials)
        return KeystoneSession(token: token, projectID: projectID, imageEndpoint: endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint)
    }

    static func domainRef(_ value: String) -> [String: String] {
        // Names like "Default" vs ids like "default" or hex: Keystone accepts either key.
        value == "default" || (value.count == 32 && value.allSatisfy(\.isHexDigit)) ? ["id": value] : ["name": value]
    }

    static func findImageEndpoint(catalog: [[String: Any]], credentials: CloudCredentials) throws -> String {
        guard let service = catalog.first(where: { $0["type"] as? String == "image" }) else {
            throw KVMBuildError(.notFound, "the service catalog has no image (Glance) service", fix: "ask the cloud's operator, or pass --image-endpoint URL")
        }
        let endpoints = service["endpoints"] as? [[String: Any]] ?? []
        let matching = endpoints.filter { endpoint in
            endpoint["interface"] as? String == credentials.interface
                && (credentials.regionName == nil || endpoint["region_id"] as? String == credentials.regionName || endpoint["region"] as? String == credentials.regionName)
        }
        guard let url = matching.first?["url"] as? String else {
            throw KVMBuildError(.notFound, "no \(credentials.interface) image endpoint\(credentials.regionName.map { " in region \($0)" } ?? "") in the catalog",
                                fix: "set region_name / interface in clouds.yaml to one the cloud offers")
        }
        return url
    }
}
