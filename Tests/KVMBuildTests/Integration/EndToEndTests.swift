import ConfigDrive
import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Libvirt

/// The user's path: check, compute --upload, verify — Glance holds the same bytes with the
/// target's and the build's properties — then the exported image boots as a new machine.
extension IntegrationTests {
@Suite(.serialized) struct EndToEndTests {
    /// Written to disk during the build and deleted again (cloud-init's runcmd): the export must
    /// not hold it, which only scrubbing free space achieves.
    static let deletedToken = "kvmbuild-e2e-deleted-\(UUID().uuidString)"
    /// An extra var's value: never on argv, in ansible.log or in the manifest.
    static let extraVarValue = "kvmbuild-e2e-extra-\(UUID().uuidString.prefix(8))"

    /// The compute image with a test check it cannot pass (a unit the play never enables), and
    /// a one-node cluster for the controller with another munge key: the two nodes' shared key
    /// is proven by the build's passing cluster, so the mismatch needs only one.
    static let failingTestTargets = """

      compute-broken-test:
        playbook: ansible/site.yml
        munge_key: ${KVMBUILD_MUNGE_KEY:-~/.config/kvmbuild/munge.key}
        test:
          enabled: [munge, kvmbuild-never-enabled]
      compute-one-node:
        playbook: ansible/site.yml
        munge_key: ${KVMBUILD_MUNGE_KEY:-~/.config/kvmbuild/munge.key}
        test:
          slurm_cluster:
            nodes: 1
            memory_mib: 512
            controller_memory_mib: 768

    """

    @Test func computeImageFromCheckToFreshBoot() async throws {
        let targets = try String(contentsOfFile: Harness.repo + "/kvmbuild.yml", encoding: .utf8) + Self.failingTestTargets
        let harness = try Harness(targets: targets, userDataAppendix: """
        runcmd:
          - [sh, -c, "for i in $(seq 2000); do echo \(Self.deletedToken); done > /var/tmp/token; sync; rm /var/tmp/token; sync"]

        """)
        defer { harness.remove() }

        let check = try await harness.run(["check", "--json"])
        #expect(check.exitCode == 0)
        let report = try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any]
        // The host decides (kvm where it works, tcg here); the build must follow that decision.
        let hostAccelerator = try #require(report?["accelerator"] as? String)

        let imageName = "kvmbuild-e2e-\(UUID().uuidString.prefix(6))"
        let buildStarted = Int(Date().timeIntervalSince1970)
        let build = try await harness.run(["compute", "--test-cluster", "--upload", "--os-cloud", "kvmbuild-demo", "--image-name", imageName, "--json",
                                           "--extra-var", "kvmbuild_e2e_marker=\(Self.extraVarValue)"],
                                          environment: ["OS_CLIENT_CONFIG_FILE": UploadTests.clouds])
        try #require(build.exitCode == 0, "compute --upload failed: \(build.stderr.suffix(3000))")
        // CI shows only the test's own output; this line says where a slow run's time went.
        if let timing = build.stderr.split(separator: "\n").last(where: { $0.hasPrefix("phases: ") }) {
            print("compute --upload \(timing)")
        }
        let uploaded = try #require(try JSONSerialization.jsonObject(with: Data(build.stdout.utf8)) as? [String: Any])
        let imageID = try #require(uploaded["id"] as? String)
        do {
            try await checkBuildUploadAndBoot(harness, imageID: imageID, imageName: imageName, uploaded: uploaded, hostAccelerator: hostAccelerator)
            try checkThePackageCacheServedTheBuild(since: buildStarted, harness: harness)
        } catch {
            await UploadTests.delete(imageID)
            throw error
        }
        await UploadTests.delete(imageID)
    }

    /// The compute play and the cluster controller's play installed through kvmbuild's
    /// apt-cacher-ng (package_cache: auto): it fetched no package from the mirror twice, and
    /// the seal left no trace of it. (PackageCacheTests proves the sharing without guests.)
    func checkThePackageCacheServedTheBuild(since started: Int, harness: Harness) throws {
        let cache = AptCacherNG(cacheDirectory: Harness.cache)
        #expect(cache.daemonPID() == nil, "the build's end stopped the cache it started")
        let packages = PackageCacheLog.load(cache.transferLog).packages(since: started - 1)
        #expect(packages.count > 5, "the guest's apt went through the cache: \(packages.count) packages")
        let twice = packages.filter { $0.value.fetched > 1 }.map(\.key)
        #expect(twice.isEmpty, "fetched from the mirror more than once: \(twice)")
        let manifest = try Manifest.load(harness.buildDir + "/compute-latest/manifest.json")
        if manifest.testCluster?.controllerFromCache == false {
            let shared = packages.filter { $0.value.served > 1 }.map(\.key)
            #expect(shared.contains { $0.contains("/munge_") }, "munge, installed on the build guest and the controller, came from the cache the second time: \(shared)")
        }
        #expect(manifest.verified.contains { $0.name == "sealed: build-proxy" && $0.passed }, "the seal's residue check looked for the proxy")
    }

    /// The export holds none of the build's secrets (checked here with needles the test makes
    /// itself from the key file and the token), and every output is private to the user.
    func checkSecretsStayedSecret(_ harness: Harness, manifest: Manifest) async throws {
        let scan = try #require(manifest.secretScan, "the manifest records the secret scan")
        #expect(scan.passed && scan.bytesScanned > 100 << 20)
        #expect(scan.results.contains { $0.secret == InjectedSecret.mungeKeyRawName && $0.inPlace == 1 && $0.occurrences == 0 },
                "the key is in munge.key's own blocks, once, and nowhere else: \(scan.results)")
        #expect(scan.results.contains { $0.secret.contains("host private key") && $0.occurrences == 0 })
        #expect(manifest.phases.contains { $0.phase == "secret-scan" })

        let raw = harness.project + "/scan-by-test.raw"
        defer { try? FileManager.default.removeItem(atPath: raw) }
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", manifest.image.path, raw]))
        let key = try #require(FileManager.default.contents(atPath: Harness.mungeKey))
        let needles = [
            InjectedSecret(name: "deleted token", fragments: [Array(Self.deletedToken.utf8)]),
            InjectedSecret(name: "munge key base64", fragments: [Array(key.base64EncodedString().utf8.prefix(64))]),
            InjectedSecret(name: "user-data's host key field", fragments: [Array("ed25519_private".utf8)]),
            InjectedSecret(name: "extra var value", fragments: [Array(Self.extraVarValue.utf8)]),
        ]
        let mine = try SecretScanner.scan(file: raw, for: needles)
        #expect(mine.leaks.isEmpty, "found in the export: \(mine.leaks)")

        let folder = harness.buildDir + "/" + manifest.name
        let log = try String(contentsOfFile: folder + "/ansible.log", encoding: .utf8)
        #expect(!log.contains(Self.extraVarValue), "extra var values stay out of ansible.log")
        #expect(!(try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)).contains(Self.extraVarValue))
        #expect(manifest.inputs.extraVarNames.contains("kvmbuild_e2e_marker"))

        func mode(_ path: String) -> mode_t { var st = stat(); return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0o7777 }
        #expect(mode(harness.buildDir) == 0o700)
        #expect(mode(folder) == 0o700)
        for file in [manifest.image.path, manifest.image.path + ".sha256", folder + "/manifest.json", folder + "/ansible.log",
                     folder + "/console.log", folder + "/state.json"] {
            #expect(mode(file) == 0o600, "\(file) is \(String(mode(file), radix: 8))")
        }
        #expect(mode(Harness.cache) == 0o700)
    }

    /// A test check the image fails: `kvmbuild test` on the export boots it, fails naming the
    /// check and leaves nothing behind. (That a failed test phase publishes nothing and is never
    /// latest is PipelineRunnerTests' job: it needs no second guest.)
    func checkABrokenTestFailed(_ verb: ProcessResult) throws {
        // With --json the failure is one JSON object on stderr, not a text line.
        #expect(verb.exitCode == 1)
        let failure = verb.stderr.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(failure?["code"] as? String == "testFailed", "\(verb.stderr.suffix(1000))")
        #expect((failure?["error"] as? String)?.contains("enabled kvmbuild-never-enabled") == true)
        #expect((failure?["fix"] as? String)?.isEmpty == false)
        let report = try JSONSerialization.jsonObject(with: Data(verb.stdout.utf8)) as? [String: Any]
        let checks = report?["checks"] as? [[String: Any]] ?? []
        #expect(checks.contains { $0["name"] as? String == "enabled munge" && $0["passed"] as? Bool == true })
        #expect(checks.contains { $0["name"] as? String == "enabled kvmbuild-never-enabled" && $0["passed"] as? Bool == false })
        let connection = try Connection(uri: "qemu:///system")
        #expect(try connection.allDomains().filter { $0.name.hasSuffix("-test") && $0.name.contains("compute-broken-test") }.isEmpty, "the verb's instance is gone")
    }

    /// `kvmbuild test` SIGKILLed once its instance runs: `kvmbuild clean` destroys the instance
    /// and removes its folder (overlay, seed, the run's private key).
    func checkAKilledTestRunIsCleaned(_ harness: Harness) async throws {
        let verb = try harness.start(["test", "compute-latest", "--target", "compute-broken-test"])
        defer { if verb.isRunning { kill(verb.processIdentifier, SIGKILL) } }
        let connection = try Connection(uri: "qemu:///system")
        func instances() throws -> [String] { try connection.allDomains().map(\.name).filter { $0.hasPrefix("kvmbuild-compute-broken-test-") && $0.hasSuffix("-test") } }
        try await harness.waitFor("the test instance to start", timeout: 300) { try !instances().isEmpty || !verb.isRunning }
        try #require(verb.isRunning, "the verb ended before its instance ran")
        kill(verb.processIdentifier, SIGKILL)
        verb.waitUntilExit()
        let tmp = FileManager.default.temporaryDirectory.path
        let runs = TestRunFolder.dead(in: tmp)
        let left = try instances()
        #expect(runs.count == 1 && left.count == 1, "SIGKILL leaves the run's instance and folder: \(runs.map(\.path))")
        let clean = try await harness.run(["clean"])
        #expect(clean.exitCode == 0, "\(clean.stderr)")
        #expect(clean.stderr.contains("test run "), "\(clean.stderr)")
        #expect(try instances().isEmpty, "clean destroyed the instance")
        for run in runs { #expect(!FileManager.default.fileExists(atPath: run.path), "\(run.path) removed") }
        #expect(TestRunFolder.dead(in: tmp).isEmpty)
    }

    func checkBuildUploadAndBoot(_ harness: Harness, imageID: String, imageName: String, uploaded: [String: Any], hostAccelerator: String) async throws {
        let manifest = try Manifest.load(harness.buildDir + "/compute-latest/manifest.json")
        let image = manifest.image.path
        #expect(try Hashing.sha256(ofFile: image) == manifest.image.sha256)

        // Glance's own record (read with the openstack CLI): active, our bytes, our properties.
        let glance = try #require(try await UploadTests.show(imageID))
        let localSHA512 = try await ProcessRunner.checked(ProcessSpec("sha512sum", [image])).stdout.prefix(128)
        #expect(glance["status"] as? String == "active")
        #expect(glance["name"] as? String == imageName)
        let properties = glance["properties"] as? [String: Any] ?? [:]
        #expect(properties["os_hash_value"] as? String == String(localSHA512))
        #expect(uploaded["os_hash_value"] as? String == String(localSHA512))
        for (key, value) in manifest.glance.properties { #expect(properties[key] as? String == value, "target property \(key)") }
        #expect(glance["min_disk"] as? Int == manifest.glance.minDiskGib)
        #expect(properties["kvmbuild_target"] as? String == "compute")
        #expect(properties["kvmbuild_build"] as? String == manifest.name)
        #expect(properties["kvmbuild_sha256"] as? String == manifest.image.sha256)
        #expect(properties["kvmbuild_git_sha"] as? String == manifest.gitSha)
        #expect(manifest.accelerator == hostAccelerator)
        #expect(manifest.phases.map(\.phase) == BuildPlan.phases.map(\.name).filter { $0 != "publish" })
        #expect(manifest.phases.map(\.phase).suffix(3) == ["export", "secret-scan", "test"])
        let ansibleLog = try String(contentsOfFile: harness.buildDir + "/compute-latest/ansible.log", encoding: .utf8)
        #expect(ansibleLog.contains("TASK [Check the builder is inert"), "the play checked the builder live")
        // cloud-init applies a config it finds invalid only in part, and says so on the console.
        let console = try String(contentsOfFile: harness.buildDir + "/compute-latest/console.log", encoding: .isoLatin1)
        #expect(!console.contains("Invalid cloud-config"), "the build's user-data must pass cloud-init's schema")
        let allPassed = manifest.verified.allSatisfy { $0.passed }
        #expect(allPassed)
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: harness.buildDir + "/compute-latest")
        #expect(latest == manifest.name)
        let info = try await QemuImg.info(image, format: "qcow2")
        #expect(info.backingFile == nil, "the export must be standalone")
        try harness.expectNothingLeftBehind()
        try await checkSecretsStayedSecret(harness, manifest: manifest)

        let verify = try await harness.run(["verify", image])
        #expect(verify.exitCode == 0, "\(verify.stderr)")

        // Warm cache: the same inputs again build nothing and report the published image.
        let extra = ["--extra-var", "kvmbuild_e2e_marker=\(Self.extraVarValue)"]
        let again = try await harness.run(["compute", "--json"] + extra)
        #expect(again.exitCode == 0, "\(again.stderr)")
        let reused = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect(reused?["up_to_date"] as? Bool == true)
        #expect(reused?["image"] as? String == image)
        #expect(harness.states().count == 1, "no second build folder")
        let dry = try await harness.run(["compute", "--dry-run", "--json"] + extra)
        let plan = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        #expect(plan?["would_build"] as? Bool == false && plan?["image"] as? String == image, "\(dry.stdout)")
        let changed = try await harness.run(["compute", "--dry-run", "--json", "--extra-var", "kvmbuild_e2e_marker=other"])
        #expect((try JSONSerialization.jsonObject(with: Data(changed.stdout.utf8)) as? [String: Any])?["would_build"] as? Bool == true)
        // A reader that went away (a closed pipe, a dropped session) ends nothing but the output.
        let closed = try await harness.runWithClosedStdout(["compute", "--json"] + extra)
        #expect(closed == 0, "kvmbuild must not die writing to a closed stdout (exit \(closed))")

        // The build's own test phase booted the export as Nova would (metadata with one key, no
        // user-data) and ran the compute target's checks before anything was published.
        let test = try #require(manifest.test, "the manifest records the boot test")
        #expect(manifest.testSkipped == nil)
        #expect(test.passed, "\(test.failed)")
        let names = Set(test.checks.map(\.name))
        for expected in ["machine-id new", "host keys new", "hostname from metadata", "no build user", "active munge", "enabled slurmd",
                         "file /etc/munge/munge.key", "command munge -n | unmunge"] {
            #expect(names.contains(expected), "test check \(expected) ran")
        }
        #expect(test.firstBootToSshSeconds > 0 && test.firstBootToSshSeconds < test.readySeconds)
        print(String(format: "first boot to SSH %.0f s, ready %.0f s, test phase %.0f s", test.firstBootToSshSeconds, test.readySeconds, test.seconds))
        #expect(FileManager.default.fileExists(atPath: harness.buildDir + "/\(manifest.name)/test-console.log"))

        try await checkTheClusterRan(manifest)
        // Two verbs that must fail, run at once: they share the host as two users' verbs would,
        // and the second's guests boot while the first waits for nodes that never get idle.
        let otherKey = harness.project + "/other-munge.key"
        try SafeWrite.privateFile(otherKey, contents: Data((0..<1024).map { _ in UInt8.random(in: 0...255) }))
        async let brokenTest = harness.run(["test", "compute-latest", "--target", "compute-broken-test", "--json"])
        async let otherKeyCluster = harness.run(["test", "compute-latest", "--target", "compute-one-node", "--cluster", "--controller-munge-key", otherKey, "--json"])
        let (broken, mismatch) = try await (brokenTest, otherKeyCluster)
        try checkABrokenTestFailed(broken)
        try checkAClusterWithAnotherMungeKeyFailed(mismatch)
        try await checkAKilledTestRunIsCleaned(harness)
        try harness.expectNothingLeftBehind()
    }

    /// The build's --test-cluster: a controller from the control play and two instances of the
    /// export ran a job together, shared munge credentials and mounted the controller's NFS export.
    func checkTheClusterRan(_ manifest: Manifest) async throws {
        let cluster = try #require(manifest.testCluster, "the manifest records the cluster test")
        #expect(cluster.passed, "\(cluster.failed)")
        #expect(cluster.nodes == ["compute-node1", "compute-node2"])
        let names = cluster.checks.map(\.name)
        for expected in ["munge: compute-node1's credential decodes on compute-node2", "munge: compute-node1's credential decodes on the controller",
                         "every node idle in sinfo", "a job runs on every node (srun -N2 hostname)",
                         "NFS /mnt/home mounted on compute-node1 at boot", "NFS /mnt/home mounted on compute-node2 at boot"] {
            #expect(names.contains(expected), "cluster check \(expected) ran: \(names)")
        }
        let job = cluster.checks.first { $0.name.hasPrefix("a job runs") }
        #expect(job?.detail == "compute-node1, compute-node2", "both hostnames came back from the job: \(job?.detail ?? "")")
        #expect(cluster.idleSeconds != nil)
        // Its controller was kept for the next cluster test: private, and (scanned by kvmbuild) keyless.
        let controllers = Harness.cache + "/controllers"
        let kept = try FileManager.default.contentsOfDirectory(atPath: controllers).filter { $0.hasSuffix(".qcow2") }
        #expect(!kept.isEmpty, "a controller in the cache")
        var st = stat()
        #expect(stat(controllers, &st) == 0 && st.st_mode & 0o777 == 0o700)
        for file in kept { #expect(stat(controllers + "/" + file, &st) == 0 && st.st_mode & 0o777 == 0o400, "\(file)") }
        let key = try #require(FileManager.default.contents(atPath: Harness.mungeKey))
        for file in kept where !cluster.controllerFromCache {
            let raw = NSTemporaryDirectory() + "controller-scan-by-test.raw"
            defer { try? FileManager.default.removeItem(atPath: raw) }
            try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", controllers + "/" + file, raw]))
            let found = try SecretScanner.scan(file: raw, for: InjectedSecret.mungeKey(key, carriedByImage: false))
            #expect(found.leaks.isEmpty, "the cached controller holds no munge key: \(found.leaks)")
        }
        print(String(format: "cluster test: controller %.0f s, nodes ready %.0f s, idle after %.0f s, %.0f s in all",
                     cluster.controllerSeconds, cluster.nodesReadySeconds, cluster.idleSeconds ?? -1, cluster.seconds))
    }

    /// The same export, one node, against a controller whose munge key differs: the node never
    /// reaches idle, the verb fails naming munge, and the cluster is gone afterwards.
    func checkAClusterWithAnotherMungeKeyFailed(_ verb: ProcessResult) throws {
        #expect(verb.exitCode == 1, "\(verb.stderr.suffix(2000))")
        let failure = verb.stderr.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(failure?["code"] as? String == "testFailed", "\(verb.stderr.suffix(1000))")
        let message = (failure?["error"] as? String ?? "").lowercased()
        #expect(message.contains("munge"), "the error names munge: \(message)")
        let report = try JSONSerialization.jsonObject(with: Data(verb.stdout.utf8)) as? [String: Any]
        let checks = report?["checks"] as? [[String: Any]] ?? []
        func passed(_ name: String) -> Bool? { checks.first { $0["name"] as? String == name }?["passed"] as? Bool }
        // Node hostnames follow the target's name: this cluster's one node is compute-one-node-node1.
        #expect(report?["nodes"] as? [String] == ["compute-one-node-node1"], "\(report?["nodes"] ?? "no nodes")")
        #expect(passed("munge: compute-one-node-node1's credential decodes on the controller") == false, "\(checks)")
        #expect(passed("every node idle in sinfo") == false, "no node may reach idle with another key: \(checks)")
        #expect(report?["idle_seconds"] == nil || report?["idle_seconds"] is NSNull)
        #expect(report?["controller_from_cache"] as? Bool == true, "the build's passing cluster left its controller in the cache")
        let connection = try Connection(uri: "qemu:///system")
        #expect(try connection.allDomains().filter { $0.name.hasPrefix("kvmbuild-compute-") }.isEmpty, "the verb's cluster is gone")
        #expect(Harness.ourSwitches(under: FileManager.default.temporaryDirectory.path + "/kvmbuild-test-").isEmpty, "the verb's switch is gone")
        // A failed verb keeps the consoles and the control play's log, and nothing else.
        let tmp = FileManager.default.temporaryDirectory.path
        for folder in (try FileManager.default.contentsOfDirectory(atPath: tmp)).filter({ $0.hasPrefix("kvmbuild-test-") }) {
            let top = try FileManager.default.contentsOfDirectory(atPath: "\(tmp)/\(folder)")
            let kept = try FileManager.default.contentsOfDirectory(atPath: "\(tmp)/\(folder)/cluster")
            #expect(top == ["cluster"] && kept == ["logs"], "\(folder) keeps only logs (not its key): \(top), cluster/\(kept)")
            try? FileManager.default.removeItem(atPath: "\(tmp)/\(folder)")
        }
    }
}
}
