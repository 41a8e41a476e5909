import ArgumentParser
import Foundation
import Testing
@testable import KVMBuild
@testable import KVMBuildCommands
import KVMBuildSupport

/// How the build verbs turn flags and kvmbuild.yml into a target and build options: flags win,
/// paths resolve against the working directory or the targets file, contradictions are refused.
@Suite struct ArgumentResolutionTests {
    let file = Harness.repo + "/kvmbuild.yml"

    func resolve(_ args: [String], target: String = "compute", host: [String] = []) throws -> (Target, BuildOptions) {
        try BuildArguments.parse(["--file", file] + args).resolve(targetName: target, host: HostOptions.parse(host))
    }

    @Test func theTargetsValuesApplyWithoutFlags() throws {
        let (target, options) = try resolve([])
        #expect(target.memoryMiB == 1536 && target.vcpus == 2)
        #expect(target.extraVars["slurm_conf_server"] == "slurm-control")
        #expect(options.projectDirectory == Harness.repo, "the targets file's folder is the project")
        #expect(options.onError == .cleanup && options.seed == .configdrive && !options.skipTest && !options.testCluster)
        #expect(options.libvirtURI == (ProcessInfo.processInfo.environment["LIBVIRT_DEFAULT_URI"] ?? "qemu:///system"))
    }

    @Test func flagsOverrideTheTarget() throws {
        let (target, options) = try resolve(["--memory", "2048", "--vcpus", "1", "--disk-size", "12", "--extra-var", "slurm_conf_server=ctl:6817",
                                             "--extra-var", "x==y", "--on-error", "abort", "--seed", "nocloud", "--no-test"],
                                            host: ["--build-dir", "/tmp/kvmb-out", "--connect", "qemu:///session"])
        #expect(target.memoryMiB == 2048 && target.vcpus == 1 && target.diskSizeGiB == 12)
        #expect(target.extraVars["slurm_conf_server"] == "ctl:6817", "the first = splits")
        #expect(target.extraVars["x"] == "=y")
        #expect(options.onError == .abort && options.seed == .nocloud && options.skipTest)
        #expect(options.buildDirectory == "/tmp/kvmb-out" && options.libvirtURI == "qemu:///session")
    }

    @Test func aMungeKeyFlagResolvesAgainstTheWorkingDirectory() throws {
        let (target, _) = try resolve(["--munge-key", "keys/munge.key"])
        #expect(target.mungeKey == FileManager.default.currentDirectoryPath + "/keys/munge.key")
    }

    @Test func contradictionsAndMalformedFlagsAreRefusedWithAFix() throws {
        for args in [["--extra-var", "novalue"], ["--test-cluster", "--no-test"]] {
            let error = #expect(throws: KVMBuildError.self, "\(args)") { try resolve(args) }
            #expect(error?.fix?.isEmpty == false, "\(args): \(String(describing: error))")
        }
        let scratch = try Scratch("kvmbuild-args")
        try """
        targets:
          plain:
            base_image: { source: /b.qcow2, checksum: "sha256:00" }
            playbook: site.yml
        """.write(toFile: scratch.path + "/kvmbuild.yml", atomically: true, encoding: .utf8)
        let error = #expect(throws: KVMBuildError.self) {
            try BuildArguments.parse(["--file", scratch.path + "/kvmbuild.yml", "--test-cluster"]).resolve(targetName: "plain", host: HostOptions.parse([]))
        }
        #expect(error?.message.contains("declares no test.slurm_cluster") == true)
    }

    @Test func dryRunSaysABuildWouldRunAndWhyAndBuildsNothing() async throws {
        let scratch = try Scratch("kvmbuild-dry")
        let result = try await ProcessRunner.run(ProcessSpec(Harness.binary, ["compute", "--dry-run", "--json", "--file", file, "--build-dir", scratch.path + "/build"]))
        #expect(result.exitCode == 0, "\(result.stderr)")
        let plan = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(plan?["would_build"] as? Bool == true)
        #expect((plan?["reason"] as? String)?.contains("no published build") == true, "\(result.stdout)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: scratch.path + "/build")) ?? []).isEmpty, "no build folder")
    }

    @Test func testClusterIsPassedThrough() throws {
        let (_, options) = try resolve(["--test-cluster"])
        #expect(options.testCluster)
    }
}
