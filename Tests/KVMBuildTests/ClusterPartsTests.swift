import ConfigDrive
import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Yams

/// The cluster test's parts that need no guest: its network config, seeds, domain NICs, its
/// kvmbuild.yml section and the switch's life.
@Suite struct ClusterPartsTests {
    let network = GuestNetwork(userMAC: "52:54:00:4b:00:01", clusterMAC: "52:54:00:4b:01:01", address: "10.42.0.11", prefixLength: 24)

    @Test func networkDataKeepsDHCPOnTheUserNICAndAStaticClusterAddress() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: network.networkDataJSON()) as? [String: Any])
        let links = object["links"] as? [[String: Any]] ?? []
        #expect(links.map { $0["ethernet_mac_address"] as? String } == ["52:54:00:4b:00:01", "52:54:00:4b:01:01"])
        let networks = object["networks"] as? [[String: Any]] ?? []
        #expect(networks.first?["type"] as? String == "ipv4_dhcp")
        #expect(networks.last?["ip_address"] as? String == "10.42.0.11")
        #expect(networks.last?["netmask"] as? String == "255.255.255.0")
        // No default route through the cluster NIC: nothing on it leads off the machine.
        #expect((networks.last?["routes"] as? [Any])?.isEmpty == true)
        let v2 = try #require(try Yams.load(yaml: network.networkConfigV2()) as? [String: Any])
        let ethernets = v2["ethernets"] as? [String: [String: Any]] ?? [:]
        #expect(ethernets["user0"]?["dhcp4"] as? Bool == true)
        #expect(ethernets["cluster0"]?["addresses"] as? [String] == ["10.42.0.11/24"])
        #expect(GuestNetwork(userMAC: "", clusterMAC: "", address: "", prefixLength: 20).netmask == "255.255.240.0")
    }

    @Test func etcHostsReplacesCloudInitsOwn() throws {
        var content = ConfigDriveContent(flavor: .configdrive, instanceID: "i", hostname: "slurm-control", user: "kvmbuild",
                                         authorizedKeys: ["ssh-ed25519 AAAA k"], hostKey: nil, mungeKey: nil)
        content.etcHosts = "10.42.0.1 slurm-control nfs-server\n"
        let rendered = try UserData.render(template: "#cloud-config\nmanage_etc_hosts: true\n", content: content)
        let config = try #require(try Yams.load(yaml: rendered) as? [String: Any])
        #expect(config["manage_etc_hosts"] as? Bool == false, "cloud-init would rewrite /etc/hosts on every boot")
        let files = config["write_files"] as? [[String: Any]] ?? []
        #expect(files.contains { $0["path"] as? String == "/etc/hosts" && ($0["content"] as? String)?.contains("nfs-server") == true })

        let instance = try #require(try Yams.load(yaml: UserData.renderInstance(etcHosts: "10.42.0.1 slurm-control\n")) as? [String: Any])
        #expect(Set(instance.keys) == ["manage_etc_hosts", "write_files"], "an instance gets nothing but its hosts")
    }

    @Test func instanceSeedCarriesNetworkDataAndOnlyTheHostsUserData() async throws {
        let scratch = try Scratch("kvmbuild-cluster")
        let iso = scratch.path + "/seed.iso"
        try await ConfigDriveWriter.writeInstance(InstanceSeed(instanceID: "i-1", hostname: "compute-node1", publicKeys: ["k": "ssh-ed25519 AAAA k"],
                                                               network: network, etcHosts: "10.42.0.1 slurm-control\n"), to: iso)
        let listing = try await ProcessRunner.checked(ProcessSpec("xorriso", ["-indev", iso, "-find", "/", "-type", "f"]))
        let all = listing.stdout + listing.stderr
        for name in ["meta_data.json", "network_data.json", "user_data"] { #expect(all.contains("openstack/latest/\(name)"), "\(name) on the seed") }
    }

    @Test func clusterMembersGetASecondNICOnTheSwitchAndFixedMACs() {
        let xml = GuestDomain(name: "n", accelerator: .tcg, memoryMiB: 512, vcpus: 1, disk: "d", configDrive: "c", consoleLog: "l", sshPort: 2500,
                              metadata: .init(id: "1", target: "t", pid: 1, folder: "f"),
                              cluster: .init(switchSocket: "/p/segment/switch", userMAC: SlurmClusterTest.mac(0, 1), clusterMAC: SlurmClusterTest.mac(1, 1))).xml()
        #expect(xml.contains("vde,id=kvmbuild1,sock=/p/segment/switch"))
        #expect(xml.contains("virtio-net-pci,netdev=kvmbuild0,mac=52:54:00:4b:00:01,bus=pci.0,addr=0x10"))
        #expect(xml.contains("virtio-net-pci,netdev=kvmbuild1,mac=52:54:00:4b:01:01,bus=pci.0,addr=0x11"))
        #expect(xml.contains("hostfwd=tcp:127.0.0.1:2500-:22"), "the SSH forward stays on loopback")
        #expect(!xml.contains("<interface"), "no libvirt network, bridge or tap")
        let plain = GuestDomain(name: "n", accelerator: .tcg, memoryMiB: 1, vcpus: 1, disk: "d", configDrive: "c", consoleLog: "l", sshPort: 1,
                                metadata: .init(id: "1", target: "t", pid: 1, folder: "f")).xml()
        #expect(!plain.contains("vde") && !plain.contains("mac="))
    }

    @Test func slurmClusterSectionParsesAndTyposAreCaught() throws {
        let scratch = try Scratch("kvmbuild-cluster")
        let yaml = """
        targets:
          compute:
            base_image: { source: /b.qcow2, checksum: "sha256:00" }
            playbook: site.yml
            munge_key: /k
            test:
              slurm_cluster: { nodes: 3, controller_names: [ctl, nfs] }
        """
        try yaml.write(toFile: scratch.path + "/kvmbuild.yml", atomically: true, encoding: .utf8)
        let cluster = try #require(try TargetsFile.load(path: scratch.path + "/kvmbuild.yml").target("compute").test.slurmCluster)
        #expect(cluster.nodes == 3 && cluster.controllerNames == ["ctl", "nfs"] && cluster.memoryMiB == 512)

        try yaml.replacingOccurrences(of: "nodes: 3", with: "node: 3").write(toFile: scratch.path + "/kvmbuild.yml", atomically: true, encoding: .utf8)
        let error = #expect(throws: KVMBuildError.self) { try TargetsFile.load(path: scratch.path + "/kvmbuild.yml") }
        #expect(error.map { "\($0.message) \($0.fix ?? "")" }?.contains("test.slurm_cluster.node") == true, "\(String(describing: error))")
    }

    @Test func hostnamesForTheControllerAreChecked() {
        #expect(SlurmClusterTest.isHostname("slurm-control"))
        for bad in ["", "-x", "a b", "a;b", "x.y", String(repeating: "a", count: 64)] { #expect(!SlurmClusterTest.isHostname(bad), "\(bad)") }
    }

    @Test func unmungeStatusLineIsReported() {
        let ok = ProcessResult(exitCode: 0, stdout: "STATUS:          Success (0)\nENCODE_HOST:     compute-node1 (10.42.0.11)\n", stderr: "")
        #expect(ClusterChecks.statusLine(ok) == "STATUS: Success (0)")
        let bad = ProcessResult(exitCode: 1, stdout: "", stderr: "unmunge: Error: Invalid credential\n")
        #expect(ClusterChecks.statusLine(bad) == "unmunge: Error: Invalid credential")
    }

    @Test func switchIsAPrivateSocketAndGoesAway() async throws {
        let scratch = try Scratch("kvmbuild-cluster")
        let segment = try await VDESwitch.start(in: scratch.path + "/segment")
        var st = stat()
        #expect(stat(segment.directory, &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(Harness.ourSwitches(under: segment.directory).count == 1)
        segment.stop()
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(Harness.ourSwitches(under: segment.directory).isEmpty, "the switch ended")
        #expect(!FileManager.default.fileExists(atPath: segment.directory))

        // A dead build's switch: `kvmbuild clean` stops what lies under its folder, nothing else.
        let orphan = try await VDESwitch.start(in: scratch.path + "/build-a/test-cluster/segment")
        let other = try await VDESwitch.start(in: scratch.path + "/build-b/test-cluster/segment")
        defer { other.stop() }
        #expect(VDESwitch.stopAll(under: scratch.path + "/build-a/").count == 1)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(Harness.ourSwitches(under: orphan.directory).isEmpty)
        #expect(Harness.ourSwitches(under: other.directory).count == 1, "another build's switch lives on")
    }
}

/// The cloud-init template a build starts from, wherever its targets file lives.
@Suite struct UserDataTemplateTests {
    @Test func builtInCopyIsTheRepositorysFile() throws {
        let file = try String(contentsOfFile: Harness.repo + "/cloud-init/user-data.yaml", encoding: .utf8)
        #expect(UserDataTemplate.builtIn == file, "Sources/ConfigDrive/UserDataTemplate.swift must be regenerated from cloud-init/user-data.yaml")
    }

    @Test func aProjectWithoutCloudInitUsesTheBuiltInAndATargetMayNameItsOwn() throws {
        let scratch = try Scratch("kvmbuild-template")
        #expect(try UserDataTemplate.load(explicit: nil, projectDirectory: scratch.path) == UserDataTemplate.builtIn)
        try FileManager.default.createDirectory(atPath: scratch.path + "/cloud-init", withIntermediateDirectories: true)
        try "#cloud-config\nlocale: C\n".write(toFile: scratch.path + "/cloud-init/user-data.yaml", atomically: true, encoding: .utf8)
        #expect(try UserDataTemplate.load(explicit: nil, projectDirectory: scratch.path) == "#cloud-config\nlocale: C\n", "the project's own wins")
        try "#cloud-config\n".write(toFile: scratch.path + "/mine.yaml", atomically: true, encoding: .utf8)
        #expect(try UserDataTemplate.load(explicit: scratch.path + "/mine.yaml", projectDirectory: scratch.path) == "#cloud-config\n")
        #expect(throws: KVMBuildError.self) { try UserDataTemplate.load(explicit: scratch.path + "/missing.yaml", projectDirectory: scratch.path) }
    }
}
