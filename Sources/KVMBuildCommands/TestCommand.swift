import ArgumentParser
import Foundation
import KVMBuild
import KVMBuildSupport
import Libvirt

/// `kvmbuild test BUILD|IMAGE`: boot an existing export as a new instance and run its target's
/// `test:` checks, the same the build's test phase runs.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Boot an exported image as a new instance (as Nova would) and run the target's test: checks.",
        discussion: "BUILD is a build folder name (or <target>-latest) in the build dir; IMAGE a .qcow2 path.")

    @Argument(help: "Build folder name, <target>-latest, or the path of an exported .qcow2.")
    var image: String

    @Option(name: .customLong("target"), help: "Target whose test: checks apply (default: the build's, else compute).")
    var targetName: String?

    @Option(name: .customLong("file"), help: "Targets file.")
    var targetsFile = TargetsFile.defaultFileName

    @Option(help: "On a failed check: cleanup (default) or abort (keep the instance and print how to ssh in).")
    var onError: OnErrorPolicy = .cleanup

    @Flag(help: "Run the target's Slurm cluster test (test.slurm_cluster) instead of the single-instance checks.")
    var cluster = false

    @Option(help: "With --cluster: give the controller this munge key instead of the target's (proves a mismatch is caught).")
    var controllerMungeKey: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions

    func run() async throws {
        output.apply()
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")
        let (file, manifest) = try Self.locate(image, buildDirectory: host.resolvedBuildDir, cwd: cwd)
        let targetsPath = InstalledFiles.targetsFile(targetsFile, defaultName: TargetsFile.defaultFileName, base: cwd)
        let target = try TargetsFile.load(path: targetsPath).target(targetName ?? manifest?.target ?? "compute")
        let projectDirectory = URL(fileURLWithPath: targetsPath).deletingLastPathComponent().path
        if controllerMungeKey != nil, !cluster { throw KVMBuildError(.invalidInput, "--controller-munge-key needs --cluster", fix: "add --cluster") }
        guard !target.test.isEmpty || cluster else {
            throw KVMBuildError(.invalidInput, "target \(target.name) declares no test: checks", fix: "add a test: section to the target in kvmbuild.yml")
        }
        let accelerator = await HostCheck(libvirtURI: host.libvirtURI, accelerator: .auto,
                                          buildDirectory: host.resolvedBuildDir, cacheDirectory: host.resolvedCacheDir).run().accelerator
        let connection: Connection
        do { connection = try Connection(uri: host.libvirtURI) } catch {
            throw KVMBuildError(.libvirt, "libvirt unreachable at \(host.libvirtURI)", fix: "start libvirtd (scripts/setup-host.sh)", cause: error)
        }

        let id = String(UUID().uuidString.prefix(8)).lowercased()
        // It names this process, so `kvmbuild clean` finds what a killed run left.
        let run = try TestRunFolder.create(id: id, libvirtURI: host.libvirtURI)
        let work = run.path
        if cluster {
            try await runCluster(file: file, target: target, accelerator: accelerator, connection: connection, id: id, run: run,
                                 projectDirectory: projectDirectory)
            return
        }
        let instance = try await run.removingOnError {
            try await InstanceTest.standalone(image: file, target: target, accelerator: accelerator, workDirectory: work, id: id,
                                              cacheDirectory: host.resolvedCacheDir, connection: connection)
        }
        let report = try await Self.untilInterrupted("the instance was destroyed") { try await instance.run(console: Console.shared) }
            onFailure: { instance.tearDown(); try? FileManager.default.removeItem(atPath: work) }
        printChecks(report.checks)
        if !report.passed, onError == .abort, let port = instance.port {
            Console.shared.warning("kept the test instance \(instance.setup.domainName) (--on-error=abort):")
            Console.shared.passthrough("ssh -i \(instance.setup.privateKey) -o UserKnownHostsFile=\(instance.setup.knownHosts) -p \(port) \(target.test.user)@127.0.0.1")
            Console.shared.passthrough("when done: kvmbuild clean (or virsh -c \(host.libvirtURI) destroy \(instance.setup.domainName); rm -rf \(work))")
        } else {
            instance.tearDown()
            try? FileManager.default.removeItem(atPath: work)
        }
        if output.json { try JSON.print(report) }
        if let first = report.failed.first {
            throw KVMBuildError(.testFailed, "\(report.failed.count) of \(report.checks.count) test checks failed on \(image), first: \(first.name): \(first.detail)",
                                fix: "rebuild the image, or fix the target's test: checks")
        }
        if !output.json {
            Console.shared.result(String(format: "%@: %d checks passed (first boot to SSH %.0f s)", image, report.checks.count, report.firstBootToSshSeconds))
        }
    }

    /// `--cluster`: a controller and the target's test.slurm_cluster nodes of the image.
    private func runCluster(file: String, target: Target, accelerator: Accelerator, connection: Connection, id: String, run: TestRunFolder,
                            projectDirectory: String) async throws {
        // The controller's play installs through the package cache, as a build's does.
        let cache = try await run.removingOnError {
            try await PackageCache.resolve(target.packageCache, cacheDirectory: host.resolvedCacheDir, console: Console.shared)
        }
        do {
            try await runCluster(file: file, target: target, accelerator: accelerator, connection: connection, id: id, run: run,
                                 projectDirectory: projectDirectory, packageProxy: cache.guestURL)
        } catch {
            await cache.lease?.release()
            throw error
        }
        await cache.lease?.release()
    }

    private func runCluster(file: String, target: Target, accelerator: Accelerator, connection: Connection, id: String, run: TestRunFolder,
                            projectDirectory: String, packageProxy: String?) async throws {
        let work = run.path
        let cluster = try await run.removingOnError {
            let key = try await SSHKeyPair.generate(in: work)
            return try await SlurmClusterTest.make(
                image: file, target: target, accelerator: accelerator, workDirectory: work + "/cluster", key: (key.privateKeyPath, key.publicKey),
                controllerMungeKey: controllerMungeKey.map { PathExpansion.resolve($0, base: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")) },
                metadata: .init(id: id, target: target.name, pid: getpid(), folder: work), domainPrefix: "kvmbuild-\(target.name)-\(id)",
                cacheDirectory: host.resolvedCacheDir, projectDirectory: projectDirectory, packageProxy: packageProxy, console: Console.shared, connection: connection)
        }
        let report = try await Self.untilInterrupted("the cluster was torn down") { try await cluster.run(console: Console.shared) }
            onFailure: { cluster.tearDown(); try? FileManager.default.removeItem(atPath: work) }
        printChecks(report.checks)
        if !report.passed, onError == .abort {
            Console.shared.warning("kept the test cluster (--on-error=abort): domains \(cluster.setup.domainPrefix)-*, logs in \(cluster.setup.workDirectory)/logs")
            Console.shared.passthrough("when done: kvmbuild clean (or virsh destroy each domain), kill the vde_switch of \(cluster.setup.workDirectory), rm -rf \(work)")
        } else {
            cluster.tearDown()
            // A failed cluster keeps its consoles and the control play's log; its key goes.
            if report.passed { try? FileManager.default.removeItem(atPath: work) } else { run.removeAllButLogs() }
        }
        if output.json { try JSON.print(report) }
        if let first = report.failed.first {
            throw KVMBuildError(.testFailed, "the Slurm cluster test failed \(report.failed.count) of \(report.checks.count) checks on \(image), first: \(first.name): \(first.detail)",
                                fix: "logs in \(cluster.setup.workDirectory)/logs; rebuild the image, or check the controller's munge key")
        }
        if !output.json {
            Console.shared.result(String(format: "%@: %d node(s) idle after %.0f s; %d cluster checks passed", image, report.nodes.count, report.idleSeconds ?? 0, report.checks.count))
        }
    }

    private func printChecks(_ checks: [InstanceCheck]) {
        guard !output.json else { return }
        for check in checks { Console.shared.passthrough("[\(check.passed ? "ok  " : "FAIL")] \(check.name): \(check.detail)") }
    }

    /// Runs `body` until it ends or a signal arrives; on either failure `onFailure` undoes what it made.
    private static func untilInterrupted<T: Sendable>(_ undone: String, _ body: @escaping @Sendable () async throws -> T,
                                                      onFailure: () -> Void) async throws -> T {
        let interrupts = InterruptMonitor()
        let task = Task { try await body() }
        interrupts.start { _ in task.cancel() }
        do {
            let value = try await task.value
            interrupts.stop()
            return value
        } catch {
            interrupts.stop()
            onFailure()
            if interrupts.signal != nil || error is CancellationError { throw KVMBuildError(.interrupted, "test interrupted; \(undone)") }
            throw error
        }
    }

    /// The image file and, for a build folder, its manifest.
    static func locate(_ value: String, buildDirectory: String, cwd: URL) throws -> (String, Manifest?) {
        let asPath = PathExpansion.resolve(value, base: cwd)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: asPath, isDirectory: &isDirectory), !isDirectory.boolValue { return (asPath, nil) }
        let folder = isDirectory.boolValue ? asPath : buildDirectory + "/" + value
        guard let manifest = try? Manifest.load(folder + "/manifest.json") else {
            throw KVMBuildError(.notFound, "\(value) is neither an image file nor a finished build in \(buildDirectory)", fix: "pass a .qcow2 path or a build name from kvmbuild list")
        }
        return (folder + "/" + URL(fileURLWithPath: manifest.image.path).lastPathComponent, manifest)
    }
}
