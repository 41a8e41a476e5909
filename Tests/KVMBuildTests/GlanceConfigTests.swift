import Foundation
import Testing
@testable import Glance
import KVMBuildSupport

/// How kvmbuild reads a cloud, as the openstack CLI does: clouds.yaml + secure.yaml, OS_*
/// variables, region and interface, application credentials, TLS settings.
@Suite struct GlanceConfigTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-clouds") }

    func write(_ name: String, _ text: String) throws -> String {
        let path = scratch.path + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func secureYamlFillsInTheSecretsAndTLSSettingsAreRead() throws {
        _ = try write("clouds.yaml", """
        clouds:
          site:
            auth: { auth_url: "https://keystone.example:5000", username: builder, project_name: hpc, user_domain_name: Users }
            region_name: RegionTwo
            interface: internal
            cacert: /etc/site/ca.pem
            cert: /etc/site/client.pem
            key: /etc/site/client.key
        """)
        _ = try write("secure.yaml", "clouds:\n  site:\n    auth: { password: from-secure-yaml }\n")
        let creds = try CloudConfig.load(cloud: "site", environment: [:], workingDirectory: scratch.path, home: "/nonexistent")
        guard case let .password(username, password, userDomain) = creds.method else { Issue.record("not password auth"); return }
        #expect(username == "builder" && password == "from-secure-yaml" && userDomain == "Users")
        #expect(creds.identityURL == "https://keystone.example:5000/v3")
        #expect(creds.regionName == "RegionTwo" && creds.interface == "internal")
        #expect(creds.tls == TLSSettings(caFile: "/etc/site/ca.pem", insecure: false, certFile: "/etc/site/client.pem", keyFile: "/etc/site/client.key"))
    }

    @Test func applicationCredentialsAndVerifyFalse() throws {
        let path = try write("other.yaml", """
        clouds:
          ci:
            auth_type: v3applicationcredential
            auth: { auth_url: "http://127.0.0.1:5000/v3", application_credential_id: abc, application_credential_secret: s3cret }
            verify: false
        """)
        let creds = try CloudConfig.load(cloud: "ci", environment: ["OS_CLIENT_CONFIG_FILE": path], workingDirectory: "/nonexistent", home: "/nonexistent")
        guard case let .applicationCredential(id, _, secret, _, _) = creds.method else { Issue.record("not an application credential"); return }
        #expect(id == "abc" && secret == "s3cret")
        #expect(creds.tls.insecure, "verify: false means insecure, as in openstacksdk")
        #expect(throws: KVMBuildError.self) {
            _ = try CloudConfig.load(cloud: "missing", environment: ["OS_CLIENT_CONFIG_FILE": path], workingDirectory: "/nonexistent", home: "/nonexistent")
        }
    }

    @Test func anOpenrcWorksWithoutAnyCloudsFile() throws {
        let env = ["OS_AUTH_URL": "https://k.example/v3/", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_PROJECT_NAME": "proj",
                   "OS_REGION_NAME": "R1", "OS_INTERFACE": "publicURL", "OS_CACERT": "/ca.pem", "OS_INSECURE": "true",
                   "OS_CERT": "/c.pem", "OS_KEY": "/c.key"]
        let creds = try CloudConfig.load(cloud: nil, environment: env, workingDirectory: "/nonexistent", home: "/nonexistent")
        #expect(creds.identityURL == "https://k.example/v3")
        #expect(creds.projectName == "proj" && creds.regionName == "R1" && creds.interface == "public")
        #expect(creds.tls == TLSSettings(caFile: "/ca.pem", insecure: true, certFile: "/c.pem", keyFile: "/c.key"))
        #expect(throws: KVMBuildError.self) { _ = try CloudConfig.load(cloud: nil, environment: [:], workingDirectory: "/x", home: "/x") }
    }

    @Test func theImageEndpointFollowsRegionAndInterface() throws {
        let catalog: [[String: Any]] = [
            ["type": "identity", "endpoints": [["interface": "public", "region_id": "R1", "url": "https://k"]]],
            ["type": "image", "endpoints": [
                ["interface": "public", "region_id": "R1", "url": "https://glance-r1-public"],
                ["interface": "internal", "region_id": "R1", "url": "http://glance-r1-internal"],
                ["interface": "public", "region_id": "R2", "url": "https://glance-r2-public"],
            ]],
        ]
        var creds = try CloudConfig.load(cloud: nil, environment: ["OS_AUTH_URL": "https://k", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_REGION_NAME": "R2"],
                                         workingDirectory: "/x", home: "/x")
        #expect(try KeystoneSession.findImageEndpoint(catalog: catalog, credentials: creds) == "https://glance-r2-public")
        creds.regionName = "R1"
        creds.interface = "internal"
        #expect(try KeystoneSession.findImageEndpoint(catalog: catalog, credentials: creds) == "http://glance-r1-internal")
        creds.regionName = "R9"
        #expect(throws: KVMBuildError.self) { _ = try KeystoneSession.findImageEndpoint(catalog: catalog, credentials: creds) }
    }
}

/// The upload body's one-pass md5 + sha512, against coreutils on the same bytes.
@Suite struct UploadHashingTests {
    @Test func bodyHashesEveryByteItSendsOnce() async throws {
        let scratch = try Scratch("kvmbuild-hash")
        let file = scratch.path + "/data"
        var bytes = [UInt8](repeating: 0, count: (1 << 20) + 12345)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2654435761 >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let body = HashingFileBody(path: file, progress: nil)
        var sent = 0
        for try await chunk in body { sent += chunk.readableBytes }
        #expect(sent == bytes.count)
        let hashes = try #require(body.state.finish(expectedBytes: Int64(bytes.count)))
        let md5 = try await ProcessRunner.checked(ProcessSpec("md5sum", [file])).stdout.prefix(32)
        let sha512 = try await ProcessRunner.checked(ProcessSpec("sha512sum", [file])).stdout.prefix(128)
        #expect(hashes.md5 == String(md5) && hashes.sha512 == String(sha512))
        #expect(body.state.finish(expectedBytes: Int64(bytes.count) + 1) == nil, "a short read is not a match")
        #expect(try hashFile(file) == hashes)
    }
}
