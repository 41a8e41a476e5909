import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

@Suite struct TargetsFileTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-targets") }

    /// Writes `yaml` as a targets file in a folder of its own (paths in it resolve from there).
    func write(_ yaml: String) throws -> String {
        let dir = scratch.path + "/\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/kvmbuild.yml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsFillTargetsAndPathsResolve() throws {
        let path = try write("""
        defaults:
          base_image: { source: images/base.qcow2, checksum: "sha256:\(String(repeating: "a", count: 64))" }
          memory_mib: 2048
        targets:
          compute:
            playbook: ansible/site.yml
            munge_key: keys/munge.key
            extra_vars: { slurm_conf_server: ctl }
        """)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let target = try TargetsFile.load(path: path).target("compute")
        #expect(target.baseImage.source == dir + "/images/base.qcow2")
        #expect(target.playbook == dir + "/ansible/site.yml")
        #expect(target.mungeKey == dir + "/keys/munge.key")
        #expect(target.memoryMiB == 2048)
        #expect(target.groups == ["compute"])
        #expect(target.sshUser == "kvmbuild")
        #expect(target.extraVars["slurm_conf_server"] == "ctl")
        #expect(target.compression == .zstd)
    }

    @Test func compressionIsZstdOrZlib() throws {
        let base = "base_image: { source: x, checksum: 'sha256:00' }, playbook: a.yml"
        let zlib = try write("defaults: { compression: zlib }\ntargets:\n  compute: { \(base) }\n")
        #expect(try TargetsFile.load(path: zlib).target("compute").compression == .zlib)
        let bad = try write("targets:\n  compute: { \(base), compression: xz }\n")
        #expect {
            try TargetsFile.load(path: bad)
        } throws: { ($0 as? KVMBuildError)?.message.contains("unknown compression 'xz'") == true }
    }

    @Test func unknownTargetNamesTheKnownOnes() throws {
        let path = try write("targets:\n  compute: { playbook: a.yml, base_image: { source: x, checksum: 'sha256:00' } }\n")
        #expect {
            try TargetsFile.load(path: path).target("login")
        } throws: { ($0 as? KVMBuildError)?.fix?.contains("compute") == true }
    }

    @Test func missingBaseImageIsReported() throws {
        let path = try write("targets:\n  compute: { playbook: a.yml }\n")
        #expect(throws: KVMBuildError.self) { try TargetsFile.load(path: path) }
    }

    @Test func repositoryFileDefinesCompute() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let target = try TargetsFile.load(path: repo.path + "/kvmbuild.yml").target("compute")
        #expect(target.verify.enabledUnits == ["munge", "slurmd"])
        #expect(target.playbook.hasSuffix("/ansible/site.yml"))
    }

    @Test func variablesExpandWithDefaults() {
        setenv("KVMBUILD_TEST_VAR", "/opt/x", 1)
        #expect(PathExpansion.expandVariables("${KVMBUILD_TEST_VAR}/a") == "/opt/x/a")
        #expect(PathExpansion.expandVariables("${KVMBUILD_UNSET_VAR:-~/c}/b") == "~/c/b")
        #expect(PathExpansion.expandVariables("$KVMBUILD_TEST_VAR") == "/opt/x")
    }
}

@Suite struct ChecksumTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-sum") }

    @Test func forms() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try Checksum.parse("sha256:\(hex.uppercased())") == hex)
        let file = scratch.path + "/image.qcow2.sha256"
        try "\(hex)  image.qcow2\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Checksum.parse("file:\(file)") == hex)
        #expect(throws: KVMBuildError.self) { try Checksum.parse("sha256:1234") }
        #expect(throws: KVMBuildError.self) { try Checksum.parse("md5:\(hex)") }
    }
}

@Suite struct OutputNameTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-names") }

    @Test func patternExpands() {
        let date = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18 11:06:40 UTC
        #expect(BuildFolder.name(pattern: "{target}-{yymmdd}-{hhmm}-{gitsha}", target: "compute", id: "x", gitSha: "abc1234", date: date)
                == "compute-261118-1106-abc1234")
    }

    @Test func sameNameTwiceGetsASuffix() throws {
        let dir = scratch.path
        let first = try BuildFolder.create(in: dir, name: "compute-1")
        let second = try BuildFolder.create(in: dir, name: "compute-1")
        #expect(first.name == "compute-1")
        #expect(second.name == "compute-1-2")
    }
}

@Suite struct ManifestTests {
    @Test func roundTripsThroughItsJSON() throws {
        let manifest = Manifest(
            name: "compute-1", target: "compute", buildId: "abc", created: Date(timeIntervalSince1970: 1_795_000_000), gitSha: "1234567",
            accelerator: "tcg", image: ExportedImage(path: "/b/i.qcow2", sha256: "ff", sizeBytes: 10, virtualSizeBytes: 20),
            inputs: .init(baseImageSource: "/base", baseImageSha256: "aa", playbook: "/p", playbookTreeSha256: "bb", groups: ["compute"],
                          extraVarNames: ["a"], extraVarsDigest: "dd", secretVarNames: [], varFiles: [], mungeKeyProvided: true, seed: "configdrive"),
            inputsSha256: "cc", phases: [PhaseTiming(phase: "boot", seconds: 1.5)], ansiblePlaySeconds: 3, sealed: ["/x"],
            verified: [ImageChecks.Check(name: "c", passed: true, detail: "d")],
            secretScan: SecretScanReport(results: [.init(secret: "munge key", occurrences: 1, allowed: 1)], bytesScanned: 42, seconds: 0.5),
            test: InstanceTestReport(checks: [InstanceCheck(name: "active munge", passed: true, detail: "active")], firstBootToSshSeconds: 53,
                                     readySeconds: 72, seconds: 95),
            testSkipped: nil, glance: .init(properties: ["os_distro": "debian"], minDiskGib: 2, minRamMib: 1024, visibility: nil, tags: ["t"]))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try manifest.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"git_sha\" : \"1234567\""))
        let loaded = try Manifest.load(path)
        #expect(loaded.gitSha == "1234567")
        #expect(loaded.inputs.baseImageSha256 == "aa")
        #expect(loaded.glance.minDiskGib == 2)
        #expect(loaded.created == manifest.created)
        #expect(text.contains("\"inputs_sha256\" : \"cc\""))
        #expect(loaded.inputsSha256 == "cc")
        // Every field survives the snake_case round trip (an acronym in a name would not).
        #expect(loaded.test == manifest.test)
        #expect(loaded.secretScan == manifest.secretScan)
        #expect(text.contains("\"first_boot_to_ssh_seconds\""))
    }
}

@Suite struct UnknownKeyTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-keys") }

    func load(_ yaml: String) throws -> TargetsFile {
        let path = scratch.path + "/kvmbuild.yml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try TargetsFile.load(path: path)
    }

    @Test func aMisspeltKeyIsAnErrorThatNamesTheRightOne() throws {
        let yaml = """
        targets:
          compute:
            base_image: { source: b.qcow2, checksum: "sha256:\(String(repeating: "a", count: 64))" }
            playbook: site.yml
            mungekey: munge.key
        """
        do {
            _ = try load(yaml)
            Issue.record("a misspelt munge_key was accepted")
        } catch let error as KVMBuildError {
            #expect(error.message.contains("unknown key 'targets.compute.mungekey'"), "\(error)")
            #expect(error.fix == "did you mean 'munge_key'?")
        }
        do {
            _ = try load(yaml.replacingOccurrences(of: "mungekey: munge.key", with: "test: { users: debian }"))
            Issue.record("a misspelt test key was accepted")
        } catch let error as KVMBuildError {
            #expect(error.message.contains("'targets.compute.test.users'") && error.fix == "did you mean 'user'?", "\(error)")
        }
        // The repository's own file uses only known keys.
        #expect(try TargetsFile.load(path: Harness.repo + "/kvmbuild.yml").targets["compute"] != nil)
    }
}
