import Foundation
import KVMBuildSupport
import Yams

/// Who we are to Keystone, read the way the openstack CLI reads it.
public struct CloudCredentials: Sendable {
    public enum Method: Sendable {
        case password(username: String, password: String, userDomain: String)
        case applicationCredential(id: String?, name: String?, secret: String, username: String?, userDomain: String)
    }

    public var cloudName: String?
    public var authURL: String
    public var method: Method
    public var projectName: String?
    public var projectID: String?
    public var projectDomain: String
    public var regionName: String?
    public var interface: String
    public var tls = TLSSettings()

    /// Keystone's v3 root, whether or not the configured URL ends in /v3.
    public var identityURL: String {
        var url = authURL
        while url.hasSuffix("/") { url.removeLast() }
        return url.hasSuffix("/v3") ? url : url + "/v3"
    }
}

/// `clouds.yaml` (+ `secure.yaml`) or `OS_*` variables, with the openstack CLI's search path:
/// `$OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`, `~/.config/openstack/`, `/etc/openstack/`.
public enum CloudConfig {
    public static func load(cloud: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            workingDirectory: String = FileManager.default.currentDirectoryPath,
                            home: String = FileManager.default.homeDirectoryForCurrentUser.path) throws -> CloudCredentials {
        let name = cloud ?? environment["OS_CLOUD"]
        if let name, !name.isEmpty {
            return try fromCloudsFile(name: name, environment: environment, workingDirectory: workingDirectory, home: home)
        }
        return try fromEnvironment(environment)
    }

    static func searchPaths(_ file: String, environment: [String: String], workingDirectory: String, home: String) -> [String] {
        var paths: [String] = []
        if file == "clouds.yaml", let explicit = environment["OS_CLIENT_CONFIG_FILE"] { paths.append(explicit) }
        paths += ["\(workingDirectory)/\(file)", "\(home)/.config/openstack/\(file)", "/etc/openstack/\(file)"]
        return paths
    }

    static func fromCloudsFile(name: String, environment: [String: String], workingDirectory: String, home: String) throws -> CloudCredentials {
        let cloudsPaths = searchPaths("clouds.yaml", environment: environment, workingDirectory: workingDirectory, home: home)
        guard let cloudsPath = cloudsPaths.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw KVMBuildError(.notFound, "cloud '\(name)' requested but no clouds.yaml found",
                                fix: "put one in ~/.config/openstack/ or set OS_CLIENT_CONFIG_FILE")
        }
        let clouds = try yamlMap(cloudsPath)["clouds"] as? [String: Any] ?? [:]
        let securePath = searchPaths("secure.yaml", environment: environment, workingDirectory: workingDirectory, home: home)
            .first { FileManager.default.isReadableFile(atPath: $0) }
        let secure = try securePath.map { try yamlMap($0)["clouds"] as? [String: Any] ?? [:] } ?? [:]
        guard var entry = clouds[name] as? [String: Any] else {
            throw KVMBuildError(.notFound, "no cloud named '\(name)' in \(cloudsPath)",
                                fix: "use one of: \(clouds.keys.sorted().joined(separator: ", "))")
        }
        if let extra = secure[name] as? [String: Any] { entry = deepMerge(entry, extra) }
        return try credentials(from: entry, cloudName: name, source: cloudsPath)
    }

    static func credentials(from entry: [String: Any], cloudName: String?, source: String) throws -> CloudCredentials {
        let auth = entry["auth"] as? [String: Any] ?? [:]
        func s(_ key: String) -> String? { (auth[key] as? String) ?? (auth[key].map { "\($0)" }) }
        guard let authURL = s("auth_url") else {
            throw KVMBuildError(.invalidInput, "cloud '\(cloudName ?? "?")' in \(source) has no auth.auth_url", fix: "add auth_url (Keystone v3)")
        }
        let authType = (entry["auth_type"] as? String) ?? "password"
        let userDomain = s("user_domain_name") ?? s("user_domain_id") ?? s("domain_name") ?? "Default"
        let method: CloudCredentials.Method
        switch authType {
        case "v3applicationcredential", "applicationcredential":
            guard let secret = s("application_credential_secret") else {
                throw KVMBuildError(.invalidInput, "cloud '\(cloudName ?? "?")' lacks application_credential_secret", fix: "add it to clouds.yaml or secure.yaml")
            }
            method = .applicationCredential(id: s("application_credential_id"), name: s("application_credential_name"),
                                            secret: secret, username: s("username"), userDomain: userDomain)
        case "password", "v3password":
            guard let username = s("username"), let password = s("password") else {
                throw KVMBuildError(.invalidInput, "cloud '\(cloudName ?? "?")' lacks username or password", fix: "add them to clouds.yaml or secure.yaml")
            }
            method = .password(username: username, password: password, userDomain: userDomain)
        default:
            throw KVMBuildError(.invalidInput, "auth_type '\(authType)' is not supported", fix: "use password or v3applicationcredential")
        }
        var credentials = CloudCredentials(cloudName: cloudName, authURL: authURL, method: method, projectName: s("project_name") ?? s("tenant_name"),
                                           projectID: s("project_id") ?? s("tenant_id"),
                                           projectDomain: s("project_domain_name") ?? s("project_domain_id") ?? "Default",
                                           regionName: entry["region_name"] as? String, interface: (entry["interface"] as? String) ?? "public")
        // openstacksdk's keys: cacert, insecure (or verify: false), cert + key.
        func path(_ key: String) -> String? {
            (entry[key] as? String).map { $0.hasPrefix("~/") ? FileManager.default.homeDirectoryForCurrentUser.path + $0.dropFirst() : $0 }
        }
        credentials.tls = TLSSettings(caFile: path("cacert"),
                                      insecure: TLSSettings.truthy(entry["insecure"]) || (entry["verify"].map { !TLSSettings.truthy($0) } ?? false),
                                      certFile: path("cert"), keyFile: path("key"))
        return credentials
    }

    static func fromEnvironment(_ env: [String: String]) throws -> CloudCredentials {
        guard let authURL = env["OS_AUTH_URL"] else {
            throw KVMBuildError(.invalidInput, "no OpenStack cloud configured",
                                fix: "pass --os-cloud NAME (clouds.yaml) or source an openrc that sets OS_AUTH_URL")
        }
        var auth: [String: Any] = ["auth_url": authURL]
        let map = ["OS_USERNAME": "username", "OS_PASSWORD": "password", "OS_PROJECT_NAME": "project_name", "OS_PROJECT_ID": "project_id",
                   "OS_USER_DOMAIN_NAME": "user_domain_name", "OS_PROJECT_DOMAIN_NAME": "project_domain_name",
                   "OS_USER_DOMAIN_ID": "user_domain_id", "OS_PROJECT_DOMAIN_ID": "project_domain_id",
                   "OS_TENANT_NAME": "tenant_name", "OS_APPLICATION_CREDENTIAL_ID": "application_credential_id",
                   "OS_APPLICATION_CREDENTIAL_SECRET": "application_credential_secret",
                   "OS_APPLICATION_CREDENTIAL_NAME": "application_credential_name"]
        for (variable, key) in map { if let value = env[variable] { auth[key] = value } }
        var entry: [String: Any] = ["auth": auth]
        if let type = env["OS_AUTH_TYPE"] { entry["auth_type"] = type }
        if let region = env["OS_REGION_NAME"] { entry["region_name"] = region }
        if let interface = env["OS_INTERFACE"] ?? env["OS_ENDPOINT_TYPE"] { entry["interface"] = interface.replacingOccurrences(of: "URL", with: "") }
        for (variable, key) in ["OS_CACERT": "cacert", "OS_CERT": "cert", "OS_KEY": "key", "OS_INSECURE": "insecure"] {
            if let value = env[variable], !value.isEmpty { entry[key] = value }
        }
        return try credentials(from: entry, cloudName: nil, source: "the OS_* environment")
    }

    static func yamlMap(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        do {
            return (try Yams.load(yaml: text) as? [String: Any]) ?? [:]
        } catch {
            throw KVMBuildError(.invalidInput, "\(path) is not valid YAML: \(error)", fix: "fix the file")
        }
    }

    static func deepMerge(_ base: [String: Any], _ overlay: [String: Any]) -> [String: Any] {
        var merged = base
        for (key, value) in overlay {
            if let a = merged[key] as? [String: Any], let b = value as? [String: Any] { merged[key] = deepMerge(a, b) } else { merged[key] = value }
        }
        return merged
    }
}
