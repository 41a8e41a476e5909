import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The warm-cache short cut: unchanged inputs find the published image; any input that shapes
/// the image, or a damaged image, makes it build again.
@Suite struct WarmCacheTests {
    /// The recipe is derived from what kvmbuild does (seal, domain, seed), not a hand-bumped name.
    @Test func theRecipeIsDerivedFromTheSealTheDomainAndTheSeed() {
        let recipe = InputsFingerprint.recipeVersion
        #expect(recipe.hasPrefix("kvmbuild-recipe ") && recipe.count == "kvmbuild-recipe ".count + 64)
        #expect(!recipe.contains("unrenderable"))
        #expect(SealOperation.script(SealOperation.all(buildUser: "a", buildHostname: "b"), buildUser: "a", buildHostname: "b")
            != SealOperation.script(SealOperation.all(buildUser: "a", buildHostname: "c"), buildUser: "a", buildHostname: "c"),
            "the seal's rendering carries what it does")
    }

    let project: Project

    init() throws { project = try Project() }

    /// A project folder with a playbook, a cloud-init template and a targets file.
    struct Project {
        let scratch: Scratch
        var dir: String { scratch.path }
        var buildDir: String { dir + "/build" }

        init() throws {
            scratch = try Scratch("kvmbuild-warm")
            let fm = FileManager.default
            for sub in ["ansible", "cloud-init", "build"] { try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
            try "- hosts: all\n  tasks: []\n".write(toFile: dir + "/ansible/site.yml", atomically: true, encoding: .utf8)
            try "#cloud-config\n".write(toFile: dir + "/cloud-init/user-data.yaml", atomically: true, encoding: .utf8)
            try Data(repeating: 7, count: 1024).write(to: URL(fileURLWithPath: dir + "/munge.key"))
            try """
            targets:
              compute:
                base_image: { source: base.qcow2, checksum: "sha256:\(String(repeating: "a", count: 64))" }
                playbook: ansible/site.yml
                munge_key: munge.key
                extra_vars: { slurm_conf_server: ctl }
            """.write(toFile: dir + "/kvmbuild.yml", atomically: true, encoding: .utf8)
        }

        func target() throws -> Target { try TargetsFile.load(path: dir + "/kvmbuild.yml").target("compute") }
        var options: BuildOptions { BuildOptions(buildDirectory: buildDir, cacheDirectory: dir + "/cache", projectDirectory: dir) }

        /// Publishes a fake build the way PublishPhase does: image, manifest, `compute-latest`.
        func publish(fingerprint: String) throws -> String {
            let paths = try BuildFolder.create(in: buildDir, name: "compute-1")
            let image = paths.root + "/compute-1.qcow2"
            try Data(repeating: 3, count: 1 << 20).write(to: URL(fileURLWithPath: image))
            let manifest = Manifest(
                name: paths.name, target: "compute", buildId: "b1", created: Date(), gitSha: "nogit", accelerator: "tcg",
                image: ExportedImage(path: image, sha256: try Hashing.sha256(ofFile: image), sizeBytes: 1 << 20, virtualSizeBytes: 1 << 30),
                inputs: .init(baseImageSource: "base", baseImageSha256: "aa", playbook: "p", playbookTreeSha256: "bb", groups: ["compute"],
                              extraVarNames: [], extraVarsDigest: nil, secretVarNames: [], varFiles: [], mungeKeyProvided: true, seed: "configdrive"),
                inputsSha256: fingerprint, phases: [], ansiblePlaySeconds: nil, sealed: [], verified: [], secretScan: nil, test: nil, testSkipped: nil, glance: .init())
            try manifest.write(to: paths.manifest)
            try PublishPhase.pointLatest(buildDirectory: buildDir, target: "compute", at: paths.name)
            return image
        }
    }

    @Test func unchangedInputsFindThePublishedImage() throws {
        let image = try project.publish(fingerprint: try InputsFingerprint.compute(target: project.target(), options: project.options))
        let found = try UpToDateBuild.find(target: project.target(), options: project.options)
        #expect(found?.export.path == image)
    }

    @Test func memoryDoesNotCountButThePlaybookVarsAndMungeKeyDo() throws {
        let original = try project.target()
        let fingerprint = try InputsFingerprint.compute(target: original, options: project.options)

        var faster = original
        faster.memoryMiB *= 2
        faster.vcpus += 1
        #expect(try InputsFingerprint.compute(target: faster, options: project.options) == fingerprint)

        // The image carries the cluster's key: a rotated key must build a new image.
        try Data(repeating: 8, count: 1024).write(to: URL(fileURLWithPath: project.dir + "/munge.key"))
        let rotated = try InputsFingerprint.compute(target: original, options: project.options)
        #expect(rotated != fingerprint)
        try Data(repeating: 7, count: 1024).write(to: URL(fileURLWithPath: project.dir + "/munge.key"))
        #expect(try InputsFingerprint.compute(target: original, options: project.options) == fingerprint, "same key, same fingerprint")

        var otherVars = original
        otherVars.extraVars["slurm_conf_server"] = "ctl2"
        #expect(try InputsFingerprint.compute(target: otherVars, options: project.options) != fingerprint)

        try "- hosts: all\n  tasks: [{ debug: { msg: hi } }]\n".write(toFile: project.dir + "/ansible/site.yml", atomically: true, encoding: .utf8)
        #expect(try InputsFingerprint.compute(target: original, options: project.options) != fingerprint)
    }

    @Test func aRotatedMungeKeyIsNotUpToDate() throws {
        _ = try project.publish(fingerprint: try InputsFingerprint.compute(target: project.target(), options: project.options))
        #expect(try UpToDateBuild.find(target: project.target(), options: project.options) != nil)
        try Data(repeating: 9, count: 1024).write(to: URL(fileURLWithPath: project.dir + "/munge.key"))
        #expect(try UpToDateBuild.find(target: project.target(), options: project.options) == nil, "the old image carries the old key")
    }

    @Test func theFingerprintHoldsNoPlainDigestOfTheMungeKey() throws {
        // A manifest reader must not be able to test guesses of the key against it.
        let key = Data(repeating: 7, count: 1024)
        let options = project.options
        _ = try InputsFingerprint.compute(target: project.target(), options: options)
        let secret = try HostSecret.load(cacheDirectory: options.cacheDirectory)
        #expect(try HostSecret.load(cacheDirectory: options.cacheDirectory).digest(key) == secret.digest(key), "one key per host")
        #expect(secret.digest(key) != Hashing.sha256(of: key))
        var st = stat()
        #expect(stat(options.cacheDirectory + "/host-secret", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(stat(options.cacheDirectory, &st) == 0 && st.st_mode & 0o777 == 0o700)
    }

    @Test func changedInputsOrADamagedImageBuildAgain() throws {
        let image = try project.publish(fingerprint: try InputsFingerprint.compute(target: project.target(), options: project.options))
        try "new template\n".write(toFile: project.dir + "/cloud-init/user-data.yaml", atomically: true, encoding: .utf8)
        #expect(try UpToDateBuild.find(target: project.target(), options: project.options) == nil)

        try "#cloud-config\n".write(toFile: project.dir + "/cloud-init/user-data.yaml", atomically: true, encoding: .utf8)
        #expect(try UpToDateBuild.find(target: project.target(), options: project.options) != nil)
        let handle = try #require(FileHandle(forWritingAtPath: image))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        #expect(try UpToDateBuild.find(target: project.target(), options: project.options) == nil, "a damaged image is never reused")
    }
}
