import Foundation
import KVMBuildSupport
import Libvirt

/// Boots the export as a new instance and runs the target's `test:` checks, before anything is
/// published or uploaded: a broken image is never `<target>-latest`. The instance gets the build's
/// ephemeral key (the one the config drive gave the build guest), so with --on-error=abort
/// `kvmbuild ssh BUILD` reaches the failed instance as it reached the build guest.
struct TestPhase: BuildPhase {
    let name = "test"

    func run(_ build: BuildContext) async throws {
        let export = try build.output(\.export), accelerator = try build.output(\.accelerator)
        // Test instances are libvirt domains of their own, made through the connection itself.
        guard let connection = build.libvirt else { throw KVMBuildError(.internalError, "the test phase needs libvirt, not a test double", fix: "report this kvmbuild bug") }
        let spec = build.target.test
        if build.options.skipTest || spec.isEmpty {
            let why = build.options.skipTest ? "--no-test" : "the target declares no test: checks"
            build.console.warning("NOT TESTED: the image was not booted before publishing (\(why))")
            build.testSkipped = why
            return
        }
        let paths = build.paths
        let publicKey = try String(contentsOfFile: paths.buildKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let instance = InstanceTest(.init(
            image: export.path, spec: spec, accelerator: accelerator, memoryMiB: spec.memoryMiB ?? build.target.memoryMiB,
            vcpus: build.target.vcpus, workDirectory: paths.testDirectory, consoleLog: paths.testConsoleLog,
            privateKey: paths.buildKey, publicKey: publicKey, knownHosts: paths.knownHosts, domainName: build.domainName + "-test",
            metadata: .init(id: build.id, target: build.target.name, pid: getpid(), folder: paths.root),
            portLocks: build.options.cacheDirectory + "/ports", buildHostPublicKey: build.outputIfMade(\.hostPublicKey),
            buildMachineID: build.buildMachineID, buildUser: build.target.sshUser, ansibleLog: paths.testAnsibleLog), connection: connection)
        build.addCleanup("destroy the test instance") { instance.tearDown() }
        // --test-cluster: the controller needs nothing of the image, so it comes up meanwhile.
        let cluster = build.options.testCluster ? try await makeCluster(build, export: export.path, connection: connection, publicKey: publicKey) : nil
        let controller = cluster.map { cluster in Task { try await cluster.prepareController(console: build.console) } }
        build.addCleanup("stop preparing the test cluster's controller") { controller?.cancel(); _ = await controller?.result }
        // Registered before the boot, so an abort hint and `kvmbuild ssh` find the instance.
        build.state.domain = instance.setup.domainName
        build.state.sshUser = spec.user
        let report = try await instance.run(console: build.console) { port in
            build.state.sshPort = port
            build.saveState()
        }
        build.testReport = report
        for check in report.failed { build.console.error("test: \(check.name): \(check.detail)") }
        if let first = report.failed.first {
            throw KVMBuildError(.testFailed, "the image failed \(report.failed.count) of \(report.checks.count) test check(s) on a booted instance, first: \(first.name): \(first.detail)",
                                fix: "nothing was published or uploaded; fix the play or the test: checks (--on-error=abort keeps the instance for kvmbuild ssh)")
        }
        // Passed: nothing to debug, so the instance goes now rather than with the build's cleanups.
        instance.tearDown()
        build.console.info(String(format: "tested: %d checks passed on a new instance (first boot to SSH %.0f s)", report.checks.count, report.firstBootToSshSeconds))
        if let cluster, let controller {
            try await controller.value
            try await runCluster(build, cluster)
        }
    }

    private func makeCluster(_ build: BuildContext, export: String, connection: Connection, publicKey: String) async throws -> SlurmClusterTest {
        let cluster = try await SlurmClusterTest.make(
            image: export, target: build.target, accelerator: try build.output(\.accelerator), workDirectory: build.paths.testClusterDirectory,
            key: (build.paths.buildKey, publicKey), metadata: .init(id: build.id, target: build.target.name, pid: getpid(), folder: build.paths.root),
            domainPrefix: build.domainName, cacheDirectory: build.options.cacheDirectory, projectDirectory: build.options.projectDirectory,
            baseImage: build.outputIfMade(\.base), packageProxy: build.outputIfMade(\.packageProxy), console: build.console, connection: connection)
        build.addCleanup("tear down the test cluster") { cluster.tearDown() }
        return cluster
    }

    /// `--test-cluster`: the image's instances must join a real Slurm cluster. With
    /// --on-error=abort a failed cluster stays up (the build's cleanups then take it down).
    private func runCluster(_ build: BuildContext, _ cluster: SlurmClusterTest) async throws {
        let report = try await cluster.run(console: build.console)
        build.clusterReport = report
        for check in report.failed { build.console.error("cluster test: \(check.name): \(check.detail)") }
        if let first = report.failed.first {
            throw KVMBuildError(.testFailed, "the image failed the Slurm cluster test (\(report.failed.count) of \(report.checks.count) checks), first: \(first.name): \(first.detail)",
                                fix: "nothing was published or uploaded; logs in \(build.paths.testClusterDirectory)/logs")
        }
        cluster.tearDown()
        build.console.info(String(format: "cluster test: %d node(s) idle after %.0f s, %d checks passed (%.0f s in all)",
                                  report.nodes.count, report.idleSeconds ?? 0, report.checks.count, report.seconds))
    }
}
