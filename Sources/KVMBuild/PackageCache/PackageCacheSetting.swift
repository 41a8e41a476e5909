import Foundation
import KVMBuildSupport

/// `package_cache:` in kvmbuild.yml and `--package-cache`: what a build guest's apt fetches
/// through. It changes how fast a build runs, not what it makes, so it is not an input of the
/// build's fingerprint.
public enum PackageCacheSetting: Sendable, Equatable, Codable, CustomStringConvertible {
    /// kvmbuild's own apt-cacher-ng on 127.0.0.1 for as long as a build uses it (AptCacherNG);
    /// a host without apt-cacher-ng builds without a cache, and says so.
    case auto
    /// Packages come straight from the mirrors.
    case off
    /// A caching proxy the user runs, `http://host:port`.
    case proxy(String)

    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "off": self = .off
        default:
            let fix = "use package_cache: auto, off or http://HOST:PORT (a caching proxy such as apt-cacher-ng or squid)"
            guard let url = URLComponents(string: text), url.scheme == "http", let host = url.host, !host.isEmpty, url.query == nil,
                  url.path.isEmpty || url.path == "/" else {
                throw KVMBuildError(.invalidInput, "package cache '\(Redactions.url(text))' is not auto, off or an http:// proxy URL", fix: fix)
            }
            // The URL is written into the guest (apt.conf) for the build: a password there would
            // sit on the build guest's disk and in its config drive.
            guard url.user == nil, url.password == nil else {
                throw KVMBuildError(.invalidInput, "package cache URL \(Redactions.url(text)) carries credentials, which would be written into the build guest",
                                    fix: "use a cache that needs no login on the build host (package_cache: auto runs one)")
            }
            self = .proxy(text.hasSuffix("/") ? String(text.dropLast()) : text)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .off: "off"
        case .proxy(let url): url
        }
    }

    public init(from decoder: Decoder) throws { self = try Self(parsing: try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The same proxy as the guest reaches it: QEMU's user-mode network forwards 10.0.2.2 to the
    /// host's loopback, so a cache bound to 127.0.0.1 is reached there.
    public static func guestURL(_ hostURL: String) -> String {
        guard var url = URLComponents(string: hostURL), let host = url.host, loopbackNames.contains(host) else { return hostURL }
        url.host = userNetworkHost
        return url.string ?? hostURL
    }

    /// Where a guest on QEMU's user-mode network finds the host.
    public static let userNetworkHost = "10.0.2.2"
    static let loopbackNames: Set<String> = ["127.0.0.1", "localhost", "[::1]", "::1"]

    /// The port of a proxy URL on this host's loopback, to check it answers before a guest
    /// depends on it; nil for a proxy elsewhere (used as given).
    static func loopbackPort(_ url: String) -> Int? {
        guard let components = URLComponents(string: url), let host = components.host, loopbackNames.contains(host) else { return nil }
        return components.port ?? 80
    }
}
