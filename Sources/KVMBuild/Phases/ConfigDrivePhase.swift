import ConfigDrive
import Foundation
import KVMBuildSupport

/// The guest's first-boot data: an ephemeral build key, a host key we pin, the munge key.
struct ConfigDrivePhase: BuildPhase {
    let name = "config-drive"

    func run(_ build: BuildContext) async throws {
        let paths = build.paths
        let fm = FileManager.default
        // Registered first: keys, ISO and inventory go whatever happens next.
        build.addCleanup("remove keys, config drive and inventory") {
            for path in paths.secrets { try? fm.removeItem(atPath: path) }
        }
        try fm.createDirectory(atPath: paths.privateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        let buildKey = try await SSHKeys.generate(at: paths.buildKey, comment: "kvmbuild-\(build.id)")
        let hostKey = try await SSHKeys.generate(at: paths.hostKey, comment: "root@\(build.domainName)")
        try build.produce(\.hostPublicKey, hostKey.publicKey)

        var keys = build.options.omitBuildKey ? [] : [buildKey.publicKey]
        keys += build.options.extraAuthorizedKeys
        if build.options.omitBuildKey { build.console.warning("fault injection: the config drive carries no build key") }

        let munge = build.target.mungeKey.flatMap { fm.contents(atPath: $0) }
        // What the export's secret scan looks for: everything secret this build hands out.
        var secrets = [InjectedSecret.privateKey(hostKey.privateKey, name: "the build guest's SSH host private key"),
                       InjectedSecret.privateKey(buildKey.privateKey, name: "the build's SSH private key")]
        if let munge { secrets += InjectedSecret.mungeKey(munge, carriedByImage: true) }
        secrets += build.options.secretVars.secrets
        build.injectedSecrets = secrets
        var content = ConfigDriveContent(
            flavor: build.options.seed, instanceID: "kvmbuild-\(build.id)-\(Int(Date().timeIntervalSince1970))",
            hostname: ImageChecks.buildHostname(target: build.target.name), user: build.target.sshUser, authorizedKeys: keys,
            hostKey: .init(privateKey: hostKey.privateKey, publicKey: hostKey.publicKey), mungeKey: munge)
        // Held to the end of the build: the test phase's cluster controller installs through it too.
        let cache = try await PackageCache.resolve(build.target.packageCache, cacheDirectory: build.options.cacheDirectory, console: build.console)
        if let lease = cache.lease { build.addCleanup("release the package cache") { await lease.release() } }
        if let proxy = cache.guestURL {
            content.packageProxy = proxy
            try build.produce(\.packageProxy, proxy)
        }

        let template = try UserDataTemplate.load(explicit: build.target.cloudInit, projectDirectory: build.options.projectDirectory)
        try await ConfigDriveWriter.write(content, template: template, to: paths.configDrive)
        // The host key's private half now lives only on the ISO.
        try? fm.removeItem(atPath: paths.hostKey)
    }
}
