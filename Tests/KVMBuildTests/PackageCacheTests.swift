import ConfigDrive
import Foundation
import Testing
import Yams
@testable import KVMBuild
import KVMBuildSupport

/// The package cache without a guest: kvmbuild's own apt-cacher-ng (the real daemon) in front
/// of a local mirror (Fixtures/http_fronts.py files, 127.0.0.1), shared by two leases, gone with
/// the last; and what a guest is told about it.
@Suite(.serialized) struct PackageCacheTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-package-cache") }

    func quiet() -> Console { let console = Console(); console.minimumLevel = .error; return console }

    @Test func settingsParseAndRefuseWhatCannotWork() throws {
        #expect(try PackageCacheSetting(parsing: "auto") == .auto)
        #expect(try PackageCacheSetting(parsing: "off") == .off)
        #expect(try PackageCacheSetting(parsing: "http://127.0.0.1:3142/") == .proxy("http://127.0.0.1:3142"))
        let credentials = #expect(throws: KVMBuildError.self) { try PackageCacheSetting(parsing: "http://me:s3cr3t@cache.example:3142") }
        #expect(credentials?.message.contains("credentials") == true)
        #expect(credentials?.message.contains("s3cr3t") == false, "the password is not printed")
        for bad in ["https://cache.example", "ftp://cache.example", "cache.example:3142", "http://cache.example/debian", "yes"] {
            #expect(throws: KVMBuildError.self, "\(bad)") { try PackageCacheSetting(parsing: bad) }
        }
        #expect(PackageCacheSetting.guestURL("http://127.0.0.1:3142") == "http://10.0.2.2:3142")
        #expect(PackageCacheSetting.guestURL("http://localhost:8000") == "http://10.0.2.2:8000")
        #expect(PackageCacheSetting.guestURL("http://cache.example:3142") == "http://cache.example:3142", "a cache elsewhere is reached as named")
    }

    @Test func kvmbuildYmlAndTheFlagSetIt() throws {
        let file = scratch.path + "/kvmbuild.yml"
        let targets = """
            defaults: {base_image: {source: base.qcow2, checksum: "sha256:00"}, playbook: site.yml, package_cache: off}
            targets:
              a: {}
              b: {package_cache: "http://127.0.0.1:3142"}
              c: {package_cache: auto}
            """
        try targets.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try TargetsFile.load(path: file)
        #expect(try loaded.target("a").packageCache == .off)
        #expect(try loaded.target("b").packageCache == .proxy("http://127.0.0.1:3142"))
        #expect(try loaded.target("c").packageCache == .auto)
        try targets.replacingOccurrences(of: "package_cache: auto", with: "package_cache: sometimes").write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: KVMBuildError.self) { try TargetsFile.load(path: file) }
        #expect(error?.message.hasPrefix("target 'c': package cache 'sometimes'") == true, "\(String(describing: error))")
        #expect(error?.fix?.contains("auto, off or http://") == true)
    }

    @Test func theGuestsBuildTimeAptFileNamesTheProxyOnlyWhenThereIsOne() throws {
        var content = ConfigDriveContent(flavor: .configdrive, instanceID: "i", hostname: "h", user: "u", authorizedKeys: ["k"], hostKey: nil, mungeKey: nil)
        func aptFile() throws -> String {
            let rendered = try UserData.render(template: "#cloud-config\n", content: content)
            let config = try #require(try Yams.load(yaml: rendered) as? [String: Any])
            let files = config["write_files"] as? [[String: Any]] ?? []
            return try #require(files.first { $0["path"] as? String == ConfigDriveContent.aptBuildConfigPath }?["content"] as? String)
        }
        #expect(!(try aptFile()).contains("Proxy"))
        content.packageProxy = "http://10.0.2.2:3142"
        #expect(try aptFile().contains("Acquire::http::Proxy \"http://10.0.2.2:3142/\";"))
        #expect(ConfigDriveContent.buildTimePaths.contains(ConfigDriveContent.aptBuildConfigPath), "the seal removes it")
    }

    /// The seal's residue check (run in the image by libguestfs; here on a copy of /etc/apt)
    /// names an apt file that still points at the build's cache, and leaves a site's own proxy alone.
    @Test func theResidueCheckFindsTheBuildsProxyLeftInAnAptFile() async throws {
        let script = SealOperation.residueScript(SealOperation.all(buildUser: "u", buildHostname: "h"), buildUser: "u", buildHostname: "h")
        let line = try #require(script.split(separator: "\n").first { $0.contains("build-proxy") })
        let apt = scratch.path + "/etc/apt"
        try FileManager.default.createDirectory(atPath: apt + "/apt.conf.d", withIntermediateDirectories: true)
        try "Acquire::http::Proxy \"http://proxy.site.example:3128/\";\n".write(toFile: apt + "/apt.conf.d/50-site", atomically: true, encoding: .utf8)
        let clean = try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", line.replacingOccurrences(of: "/etc/apt", with: apt)]))
        #expect(clean.stdout.isEmpty, "a site's own proxy is not the build's: \(clean.stdout)")
        try "// copied by a play\nAcquire::http::Proxy \"http://10.0.2.2:3142/\";\n".write(toFile: apt + "/apt.conf.d/99-left", atomically: true, encoding: .utf8)
        let found = try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", line.replacingOccurrences(of: "/etc/apt", with: apt)]))
        #expect(found.stdout == "build-proxy\t\(apt)/apt.conf.d/99-left\n", "\(found.stdout)")
    }

    @Test func buildsShareOneCacheThatFetchesEachFileOnceAndStopsWithTheLastBuild() async throws {
        let root = scratch.path + "/mirror"
        let package = "/debian/pool/main/k/kvmbuild-test/kvmbuild-test_1.0_amd64.deb"
        try FileManager.default.createDirectory(atPath: root + URL(fileURLWithPath: package).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: root + package))
        // apt-cacher-ng 3.7 answers 503 for an upstream port above 32767.
        let mirror = try LocalServer(["files", root, "low-port"])
        defer { mirror.stop() }

        let cache = AptCacherNG(cacheDirectory: scratch.path + "/cache", upstreamPorts: [80, mirror.port])
        let first = try await cache.lease()
        let second = try await cache.lease()
        #expect(first.port == second.port, "one daemon for both builds")
        let pid = try #require(cache.daemonPID())
        #expect(ProcFS.listens(pid: pid, port: first.port))
        var st = stat()
        #expect(stat(cache.directory, &st) == 0 && st.st_mode & 0o777 == 0o700)

        for lease in [first, second] {
            let fetched = try await ProcessRunner.run(ProcessSpec("curl", ["-sf", "-o", "/dev/null", "-w", "%{size_download}", "-x", lease.hostURL,
                                                                          "http://127.0.0.1:\(mirror.port)\(package)"]))
            #expect(fetched.exitCode == 0 && fetched.stdout == "300000", "\(fetched.stdout) \(fetched.stderr)")
        }
        await first.release()
        #expect(cache.daemonPID() == pid, "still running for the second build")
        #expect(await cache.stopIfUnused() == nil, "kvmbuild clean leaves a cache in use alone")
        await second.release()
        #expect(cache.daemonPID() == nil, "the last build stopped it")
        #expect(!isApt(pid), "no apt-cacher-ng \(pid) left running")
        #expect(PortReservation.isFree(first.port))

        let requests = try String(contentsOfFile: scratch.path + "/requests", encoding: .utf8)
        #expect(requests.components(separatedBy: "GET \(package)").count - 1 == 1, "the mirror saw one download: \(requests)")
        let log = PackageCacheLog.load(cache.transferLog).packages()
        let counts = try #require(log.first { $0.key.hasSuffix(package) }?.value, "\(log)")
        #expect(counts.fetched == 1 && counts.served == 2, "\(counts)")
    }

    @Test func aProxyTheUserNamedMustAnswer() async throws {
        let free = try #require(AptCacherNG.ports.reversed().first(where: PortReservation.isFree))
        let error = await #expect(throws: KVMBuildError.self) {
            _ = try await PackageCache.resolve(.proxy("http://127.0.0.1:\(free)"), cacheDirectory: scratch.path + "/cache", console: quiet())
        }
        #expect(error?.message == "package cache http://127.0.0.1:\(free) does not answer on 127.0.0.1:\(free)")
        let server = try LocalServer(["files", scratch.path])
        defer { server.stop() }
        let named = try await PackageCache.resolve(.proxy("http://127.0.0.1:\(server.port)"), cacheDirectory: scratch.path + "/cache", console: quiet())
        #expect(named.guestURL == "http://10.0.2.2:\(server.port)" && named.lease == nil)
        #expect(try await PackageCache.resolve(.off, cacheDirectory: scratch.path + "/cache", console: quiet()).guestURL == nil)
    }

    private func isApt(_ pid: pid_t) -> Bool {
        (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? "").contains("apt-cacher-ng")
    }
}
