import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The cloud side of the secrets issue, against the real local Keystone + Glance: TLS behind a
/// private CA (generated here with openssl), redirects that would carry the token elsewhere, and
/// a munge-key image that must not become public.
extension IntegrationTests {
@Suite(.serialized) struct SecureCloudTests {
    let scratch: Scratch
    var work: String { scratch.path }

    init() throws {
        try #require(FileManager.default.fileExists(atPath: UploadTests.clouds), "start Keystone + Glance: scripts/openstack-local.sh start")
        scratch = try Scratch("kvmbuild-tls")
    }

    func kvmbuild(_ args: [String], env: [String: String]) async throws -> ProcessResult {
        try await ProcessRunner.run(ProcessSpec(Harness.binary, args, environment: env, workingDirectory: work))
    }

    func smallImage() async throws -> String {
        let raw = work + "/img.raw", qcow = work + "/img.qcow2"
        try await ProcessRunner.checked(ProcessSpec("/bin/sh", ["-c", "head -c \(4 << 20) /dev/urandom > '\(raw)'"]))
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow]))
        return qcow
    }

    /// A CA of our own and a certificate for 127.0.0.1 signed by it.
    func makeCA() async throws -> (ca: String, cert: String, key: String) {
        let script = """
        set -e
        cd '\(work)'
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=kvmbuild test CA' -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\\n' > san.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf -out server.pem 2>/dev/null
        """
        try await ProcessRunner.checked(ProcessSpec("/bin/sh", ["-c", script]))
        return (work + "/ca.pem", work + "/server.pem", work + "/server.key")
    }

    func cloudsFile(authURL: String, cacert: String?) throws -> String {
        let path = work + "/clouds-\(UUID().uuidString.prefix(4)).yaml"
        try """
        clouds:
          tls:
            auth:
              auth_url: \(authURL)
              username: demo
              password: \(UploadTests.demoPassword)
              project_name: demo
              user_domain_name: Default
              project_domain_name: Default
            region_name: RegionOne
        \(cacert.map { "    cacert: \($0)" } ?? "")
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aCloudBehindAPrivateCAWorksWithItsCacertAndIsRefusedWithout() async throws {
        let (ca, cert, key) = try await makeCA()
        let keystone = try LocalServer(["tls", "5000", cert, key])
        defer { keystone.stop() }
        let glance = try LocalServer(["tls", "9292", cert, key])
        defer { glance.stop() }
        let image = try await smallImage()
        let name = "kvmbuild-test-tls-\(UUID().uuidString.prefix(6))"
        let endpoint = ["--image-endpoint", "https://127.0.0.1:\(glance.port)"]
        let authURL = "https://127.0.0.1:\(keystone.port)/v3"

        // Without the CA: refused, one line, the fix names cacert, nothing created.
        let untrusted = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "tls"] + endpoint,
                                           env: ["OS_CLIENT_CONFIG_FILE": try cloudsFile(authURL: authURL, cacert: nil)])
        expectOneLineError(untrusted, contains: "failed")
        #expect(untrusted.stderr.contains("cacert"), "\(untrusted.stderr)")
        #expect(!untrusted.stderr.contains(UploadTests.demoPassword))

        // clouds.yaml's cacert: the whole upload goes over TLS to the real Glance.
        let trusted = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "tls", "--json"] + endpoint,
                                         env: ["OS_CLIENT_CONFIG_FILE": try cloudsFile(authURL: authURL, cacert: ca)])
        try #require(trusted.exitCode == 0, "\(trusted.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(trusted.stdout.utf8)) as? [String: Any])?["id"] as? String)
        defer { Task { await UploadTests.delete(id) } }
        #expect(try await UploadTests.show(id)?["status"] as? String == "active")
        await UploadTests.delete(id)

        // The openrc form: OS_CACERT.
        let openrc = ["OS_AUTH_URL": authURL, "OS_USERNAME": "demo", "OS_PASSWORD": UploadTests.demoPassword, "OS_PROJECT_NAME": "demo",
                      "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne",
                      "OS_CACERT": ca, "OS_CLOUD": ""]
        let viaEnv = try await kvmbuild(["upload", image, "--name", name + "-env", "--json"] + endpoint, env: openrc)
        try #require(viaEnv.exitCode == 0, "\(viaEnv.stderr)")
        let envID = try #require((try JSONSerialization.jsonObject(with: Data(viaEnv.stdout.utf8)) as? [String: Any])?["id"] as? String)
        await UploadTests.delete(envID)
    }

    @Test func aRedirectToAnotherHostNeverSeesTheToken() async throws {
        let log = work + "/other-host.log"
        let other = try LocalServer(["record", log])
        defer { other.stop() }
        // "localhost" and "127.0.0.1" are different hosts to a client, though both are this machine.
        let redirector = try LocalServer(["redirect", "http://localhost:\(other.port)"])
        defer { redirector.stop() }
        let image = try await smallImage()
        let name = "kvmbuild-test-redir-\(UUID().uuidString.prefix(6))"
        let result = try await kvmbuild(["upload", image, "--name", name, "--os-cloud", "kvmbuild-demo", "--image-endpoint", "http://127.0.0.1:\(redirector.port)"],
                                        env: ["OS_CLIENT_CONFIG_FILE": UploadTests.clouds])
        expectOneLineError(result, contains: "redirected")
        let seen = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(seen.isEmpty, "the other host was contacted: \(seen)")
    }

    @Test func anImageWithAMungeKeyIsNotMadePublic() async throws {
        // A build folder as kvmbuild publishes it, with a manifest saying the image carries a key.
        let folder = work + "/compute-1"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let image = try await smallImage()
        try FileManager.default.moveItem(atPath: image, toPath: folder + "/compute-1.qcow2")
        let manifest = Manifest(
            name: "compute-1", target: "compute", buildId: "b1", created: Date(), gitSha: "nogit", accelerator: "tcg",
            image: ExportedImage(path: folder + "/compute-1.qcow2", sha256: try Hashing.sha256(ofFile: folder + "/compute-1.qcow2"), sizeBytes: 1, virtualSizeBytes: 1),
            inputs: .init(baseImageSource: "b", baseImageSha256: "a", playbook: "p", playbookTreeSha256: "t", groups: ["compute"], extraVarNames: [],
                          extraVarsDigest: nil, secretVarNames: [], varFiles: [], mungeKeyProvided: true, seed: "configdrive"),
            inputsSha256: nil, phases: [], ansiblePlaySeconds: nil, sealed: [], verified: [], secretScan: nil, test: nil, testSkipped: nil, glance: .init())
        try manifest.write(to: folder + "/manifest.json")
        let name = "kvmbuild-test-public-\(UUID().uuidString.prefix(6))"
        let env = ["OS_CLIENT_CONFIG_FILE": UploadTests.clouds]
        for flags in [["--visibility", "public"], ["--property", "visibility=community"]] {
            let refused = try await kvmbuild(["upload", folder, "--name", name, "--os-cloud", "kvmbuild-admin"] + flags, env: env)
            expectOneLineError(refused, contains: "munge key")
        }
        let ids = try await ProcessRunner.checked(ProcessSpec("/usr/bin/openstack", ["--os-cloud", "kvmbuild-admin", "image", "list", "-f", "value", "--name", name],
                                                              environment: env)).stdout
        #expect(ids.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }
}
}
