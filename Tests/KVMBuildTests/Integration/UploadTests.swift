import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// `kvmbuild upload` against the real Keystone + Glance that scripts/openstack-local.sh runs on
/// 127.0.0.1 (scripts/test.sh starts it). Glance's view is read with the openstack CLI, not ours.
extension IntegrationTests {
@Suite(.serialized) struct UploadTests {
    static let clouds = (ProcessInfo.processInfo.environment["KVMBUILD_OPENSTACK_DIR"] ?? "/var/lib/kvmbuild-openstack") + "/clouds.yaml"

    let scratch: Scratch
    var work: String { scratch.path }

    init() throws {
        try #require(FileManager.default.fileExists(atPath: Self.clouds), "start Keystone + Glance: scripts/openstack-local.sh start")
        scratch = try Scratch("kvmbuild-up")
    }

    /// A small qcow2 of random data (so every test's image hashes differently).
    func makeImage(_ name: String, mib: Int = 24) async throws -> String {
        let raw = work + "/\(name).raw", qcow = work + "/\(name).qcow2"
        try await ProcessRunner.checked(ProcessSpec("/bin/sh", ["-c", "head -c \(mib << 20) /dev/urandom > '\(raw)'"]))
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow]))
        return qcow
    }

    func kvmbuild(_ args: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        try await ProcessRunner.run(ProcessSpec(Harness.binary, args, environment: ["OS_CLIENT_CONFIG_FILE": Self.clouds].merging(env) { $1 },
                                                workingDirectory: work))
    }

    /// Glance's record of an image, through the openstack CLI.
    func show(_ id: String, cloud: String = "kvmbuild-admin") async throws -> [String: Any]? {
        try await Self.show(id, cloud: cloud)
    }

    /// Deletes a test's image (as admin); a test that failed half-way still leaves Glance clean.
    static func delete(_ id: String) async {
        _ = try? await ProcessRunner.run(ProcessSpec("/usr/bin/openstack", ["--os-cloud", "kvmbuild-admin", "image", "delete", id],
                                                     environment: ["OS_CLIENT_CONFIG_FILE": clouds]))
    }

    static func show(_ id: String, cloud: String = "kvmbuild-admin") async throws -> [String: Any]? {
        let result = try await ProcessRunner.run(ProcessSpec("/usr/bin/openstack", ["--os-cloud", cloud, "image", "show", "-f", "json", id],
                                                             environment: ["OS_CLIENT_CONFIG_FILE": Self.clouds]))
        guard result.succeeded else { return nil }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    }

    func imageIDs(named name: String) async throws -> [String] {
        let result = try await ProcessRunner.checked(ProcessSpec("/usr/bin/openstack", ["--os-cloud", "kvmbuild-admin", "image", "list", "-f", "json", "--name", name],
                                                                 environment: ["OS_CLIENT_CONFIG_FILE": Self.clouds]))
        return ((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [[String: Any]] ?? []).compactMap { $0["ID"] as? String }
    }

    func sums(_ path: String) async throws -> (md5: String, sha512: String) {
        let md5 = try await ProcessRunner.checked(ProcessSpec("md5sum", [path])).stdout.prefix(32)
        let sha = try await ProcessRunner.checked(ProcessSpec("sha512sum", [path])).stdout.prefix(128)
        return (String(md5), String(sha))
    }

    @Test func passwordUploadLandsVerifiedWithPropertiesAndTfvars() async throws {
        let image = try await makeImage("pw")
        let name = "kvmbuild-test-pw-\(UUID().uuidString.prefix(6))"
        let result = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo", "--json",
                                         "--property", "hw_disk_bus=scsi", "--property", "os_distro=debian", "--min-disk", "3", "--min-ram", "512",
                                         "--tag", "kvmbuild-test", "--tfvars", work + "/image.auto.tfvars"])
        try #require(result.exitCode == 0, "\(result.stderr)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let id = try #require(out["id"] as? String)
        let glance = try #require(try await show(id))
        let local = try await sums(image)
        #expect(glance["status"] as? String == "active")
        #expect(glance["checksum"] as? String == local.md5)
        #expect(out["os_hash_value"] as? String == local.sha512)
        #expect(glance["min_disk"] as? Int == 3)
        #expect(glance["min_ram"] as? Int == 512)
        #expect((glance["tags"] as? [String])?.contains("kvmbuild-test") == true)
        let properties = glance["properties"] as? [String: Any] ?? [:]
        #expect(properties["hw_disk_bus"] as? String == "scsi")
        #expect(properties["os_hash_value"] as? String == local.sha512)
        #expect(try String(contentsOfFile: work + "/image.auto.tfvars", encoding: .utf8) == "compute_image_id = \"\(id)\"\n")
        #expect(!result.stderr.contains("kvmbuild-demo\" password") && !result.stderr.contains(Self.demoPassword), "no secrets in output")

        // Same name, same bytes: nothing is uploaded, the same id comes back.
        let again = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo"])
        #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id)
        #expect(again.stderr.contains("nothing uploaded"))
        #expect(try await imageIDs(named: name) == [id])
        await Self.delete(id)
        #expect(try await imageIDs(named: name).isEmpty, "tests leave nothing in Glance")
    }

    /// scripts/openstack-local.sh's; unlike the cloud's name, so the leak checks can fail.
    static let demoPassword = "kvmb-demo-pw-0c71"

    /// A build folder's upload takes md5 and sha512 from the export (the manifest) instead of
    /// hashing while it sends, and Glance's own hashes must equal them: a file changed since its
    /// export (same size, one byte different) is caught, and the uploaded image deleted.
    @Test func aBuildIsCheckedAgainstItsExportsHashesAndAChangedFileIsRefused() async throws {
        let folder = work + "/compute-7"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let image = folder + "/compute-7.qcow2"
        try FileManager.default.moveItem(atPath: try await makeImage("build", mib: 8), toPath: image)
        let digests = try Hashing.imageDigests(ofFile: image)
        let local = try await sums(image)
        #expect(digests.md5 == local.md5 && digests.sha512 == local.sha512, "the export's hashes are md5sum's and sha512sum's")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int64)
        let manifest = Manifest(
            name: "compute-7", target: "compute", buildId: "b7", created: Date(), gitSha: "nogit", accelerator: "tcg",
            image: ExportedImage(path: image, sha256: digests.sha256, sizeBytes: size, virtualSizeBytes: size, md5: digests.md5, sha512: digests.sha512),
            inputs: .init(baseImageSource: "b", baseImageSha256: "a", playbook: "p", playbookTreeSha256: "t", groups: ["compute"], extraVarNames: [],
                          extraVarsDigest: nil, secretVarNames: [], varFiles: [], mungeKeyProvided: false, seed: "configdrive"),
            inputsSha256: nil, phases: [], ansiblePlaySeconds: nil, sealed: [], verified: [], secretScan: nil, test: nil, testSkipped: nil, glance: .init())
        try manifest.write(to: folder + "/manifest.json")

        let name = "kvmbuild-test-build-\(UUID().uuidString.prefix(6))"
        let good = try await kvmbuild(["upload", folder, "--name", name, "--os-cloud", "kvmbuild-demo", "--json"])
        let id = (try? JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as? [String: Any])?["id"] as? String
        defer { if let id { Task { await Self.delete(id) } } }
        try #require(good.exitCode == 0, "\(good.stderr)")
        let uploaded = try #require(id)
        let shown = try #require(try await show(uploaded))
        #expect(shown["checksum"] as? String == digests.md5)
        #expect((shown["properties"] as? [String: Any])?["os_hash_value"] as? String == digests.sha512, "the openstack CLI lists os_hash_value among the properties")

        // One byte changed after the export: same size, other hashes than the manifest's.
        let handle = try #require(FileHandle(forUpdatingAtPath: image))
        try handle.seek(toOffset: UInt64(size - 1))
        let last = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: UInt64(size - 1))
        try handle.write(contentsOf: Data([last ^ 0xff]))
        try handle.close()
        let changed = "kvmbuild-test-changed-\(UUID().uuidString.prefix(6))"
        let refused = try await kvmbuild(["upload", folder, "--name", changed, "--os-cloud", "kvmbuild-demo", "--force"])
        #expect(refused.exitCode != 0)
        #expect(refused.stderr.contains("Glance stored different bytes"), "\(refused.stderr)")
        #expect(try await imageIDs(named: changed).isEmpty, "the unverified image was deleted")
    }

    @Test func applicationCredentialUploadWorks() async throws {
        let image = try await makeImage("appcred", mib: 8)
        let name = "kvmbuild-test-ac-\(UUID().uuidString.prefix(6))"
        let result = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "kvmbuild-appcred"])
        try #require(result.exitCode == 0, "\(result.stderr)")
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await show(id)?["status"] as? String == "active")
        await Self.delete(id)
        #expect(try await imageIDs(named: name).isEmpty, "tests leave nothing in Glance")
    }

    @Test func replaceWarehousesTheOldImageAndMovesItsMembers() async throws {
        let name = "kvmbuild-test-rep-\(UUID().uuidString.prefix(6))"
        let first = try await kvmbuild(["upload", try await makeImage("v1", mib: 8), "--name", name, "--os-cloud", "kvmbuild-admin", "--visibility", "shared"])
        try #require(first.exitCode == 0, "\(first.stderr)")
        let oldID = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let demoProject = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: URL(fileURLWithPath: Self.clouds)
            .deletingLastPathComponent().path + "/appcred.json"))) as? [String: Any])["demo_project_id"] as? String
        let member = try #require(demoProject)
        try await ProcessRunner.checked(ProcessSpec("/usr/bin/openstack", ["--os-cloud", "kvmbuild-admin", "image", "add", "project", oldID, member],
                                                    environment: ["OS_CLIENT_CONFIG_FILE": Self.clouds]))

        let second = try await kvmbuild(["upload", try await makeImage("v2", mib: 8), "--name", name, "--os-cloud", "kvmbuild-admin", "--replace", "--json"])
        try #require(second.exitCode == 0, "\(second.stderr)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        let newID = try #require(out["id"] as? String)
        #expect(out["warehoused_id"] as? String == oldID)
        let old = try #require(try await show(oldID))
        #expect((old["name"] as? String)?.hasPrefix("warehoused-\(name)-") == true)
        #expect(old["status"] as? String == "deactivated")
        let new = try #require(try await show(newID))
        #expect(new["name"] as? String == name)
        #expect(new["visibility"] as? String == "shared")
        let members = try await ProcessRunner.checked(ProcessSpec("/usr/bin/openstack", ["--os-cloud", "kvmbuild-admin", "image", "member", "list", "-f", "value", "-c", "Member ID", newID],
                                                                  environment: ["OS_CLIENT_CONFIG_FILE": Self.clouds]))
        #expect(members.stdout.contains(member))
        await Self.delete(newID)
        await Self.delete(oldID)
    }

    @Test func badInputsFailInOneLineAndLeaveNoImage() async throws {
        let image = try await makeImage("bad", mib: 4)
        let name = "kvmbuild-test-bad-\(UUID().uuidString.prefix(6))"
        let secure = work + "/clouds.yaml"
        let wrongPassword = try String(contentsOfFile: Self.clouds, encoding: .utf8).replacingOccurrences(of: "password: \(Self.demoPassword)", with: "password: wrong")
        try wrongPassword.write(toFile: secure, atomically: true, encoding: .utf8)
        let cases: [([String], [String: String], String)] = [
            (["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo"], ["OS_CLIENT_CONFIG_FILE": secure], "rejected the credentials"),
            (["upload", image, "--name", name, "--os-cloud", "no-such-cloud"], [:], "no cloud named 'no-such-cloud'"),
            (["upload", work + "/missing.qcow2", "--name", name, "--os-cloud", "kvmbuild-demo"], [:], "not found"),
            (["upload", work + "/bad.raw", "--name", name, "--os-cloud", "kvmbuild-demo"], [:], "is not a qcow2 image"),
        ]
        for (args, env, text) in cases {
            let result = try await kvmbuild(args, env: env)
            expectOneLineError(result, contains: text)
            #expect(!result.stderr.contains("wrong") || !result.stderr.contains("password: wrong"), "the password is never printed")
        }
        #expect(try await imageIDs(named: name).isEmpty)
    }

    @Test func connectionCutMidUploadDeletesTheImage() async throws {
        let image = try await makeImage("cut", mib: 64)
        let name = "kvmbuild-test-cut-\(UUID().uuidString.prefix(6))"
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        proxy.arguments = [Harness.repo + "/Tests/KVMBuildTests/Fixtures/cutting_proxy.py", "9292", String(8 << 20)]
        let out = Pipe()
        proxy.standardOutput = out
        // Never our stderr: a proxy that outlived the test would hold the CI log open.
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        // SIGKILL, not terminate(): Foundation starts children with SIGTERM blocked, so a SIGTERM
        // would be ignored and the proxy would outlive the test run (CI then waits forever).
        defer { kill(proxy.processIdentifier, SIGKILL); proxy.waitUntilExit() }
        let port = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo", "--image-endpoint", "http://127.0.0.1:\(port)"])
        expectOneLineError(result, contains: "uploading")
        #expect(result.stderr.contains("deleted the unfinished image"))
        #expect(try await imageIDs(named: name).isEmpty)
    }

    @Test func interruptedUploadDeletesTheImage() async throws {
        // Big enough to still be uploading when the signal arrives.
        let image = try await makeImage("sigint", mib: 768)
        let name = "kvmbuild-test-int-\(UUID().uuidString.prefix(6))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binary)
        process.arguments = ["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo"]
        process.environment = ProcessInfo.processInfo.environment.merging(["OS_CLIENT_CONFIG_FILE": Self.clouds]) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        var created = false
        for _ in 0..<200 where !created {
            try await Task.sleep(nanoseconds: 50_000_000)
            created = try await imageIDs(named: name).count == 1
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(try await imageIDs(named: name).isEmpty, "\(stderr)")
    }
}
}
