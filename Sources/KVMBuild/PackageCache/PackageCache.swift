import Foundation
import KVMBuildSupport

/// What a build guest's apt fetches through, for a `package_cache:` setting.
public struct PackageCache: Sendable {
    /// The proxy as the guest reaches it (`http://10.0.2.2:PORT` for one on this host's
    /// loopback); nil: straight from the mirrors.
    public let guestURL: String?
    /// With `auto`: this build's share of kvmbuild's apt-cacher-ng, to release when it ends.
    public let lease: PackageCacheLease?

    public static let direct = PackageCache(guestURL: nil, lease: nil)

    /// `auto` never fails a build: without apt-cacher-ng, or when it cannot start, the build goes
    /// to the mirrors and says so. A proxy the user named must answer, or nothing boots.
    public static func resolve(_ setting: PackageCacheSetting, cacheDirectory: String, console: Console) async throws -> PackageCache {
        switch setting {
        case .off:
            return .direct
        case .proxy(let url):
            if let port = PackageCacheSetting.loopbackPort(url), !Loopback.accepts(port: port) {
                throw KVMBuildError(.invalidInput, "package cache \(Redactions.url(url)) does not answer on 127.0.0.1:\(port)",
                                    fix: "start it, or set package_cache: auto (kvmbuild runs apt-cacher-ng) or off")
            }
            console.info("package cache: \(Redactions.url(url))")
            return PackageCache(guestURL: PackageCacheSetting.guestURL(url), lease: nil)
        case .auto:
            guard AptCacherNG.isInstalled else {
                console.warning("package cache: apt-cacher-ng is not installed, so packages come from the mirrors (scripts/setup-host.sh installs it; package_cache: off silences this)")
                return .direct
            }
            let cache = AptCacherNG(cacheDirectory: cacheDirectory)
            do {
                let lease = try await cache.lease()
                console.info("package cache: apt-cacher-ng on \(lease.hostURL) (\(cache.directory))")
                return PackageCache(guestURL: PackageCacheSetting.guestURL(lease.hostURL), lease: lease)
            } catch let error as KVMBuildError {
                console.warning("package cache: \(error.message); packages come from the mirrors (\(error.fix ?? "package_cache: off"))")
                return .direct
            }
        }
    }
}
