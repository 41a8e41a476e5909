import Foundation
import Guestfs
import Testing
@testable import KVMBuild

/// Opens the embedded default base image through the Guestfs wrapper (a real appliance launch).
@Suite(.serialized) struct BaseImageInspectionTests {
    static var baseImage: String {
        let cache = ProcessInfo.processInfo.environment["KVMBUILD_CACHE"] ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/kvmbuild"
        return cache + "/base/debian-12-kvmbuild.qcow2"
    }

    @Test func baseImageIsDebian12WithPinnedCloudInitAndSSHD() async throws {
        try #require(FileManager.default.fileExists(atPath: Self.baseImage), "run scripts/build-base-image.sh first")
        let forceTCG = CPUVirtualization.parse(cpuinfo: try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)).ext == nil
        let g = try Handle(forceTCG: forceTCG)
        try g.addDrive(Self.baseImage, format: "qcow2", readOnly: true)
        try g.launch()
        let root = try g.inspectAndMount(readOnly: true)
        #expect(try g.distro(root: root) == "debian")
        #expect(try g.majorVersion(root: root) == 12)
        let cfg = try g.cat("/etc/cloud/cloud.cfg.d/90-kvmbuild-image.cfg")
        #expect(cfg.contains("datasource_list: [ ConfigDrive, NoCloud ]"))
        #expect(try g.exists("/usr/sbin/sshd"))
        #expect(try g.exists("/usr/bin/cloud-init"))
        #expect(try g.glob("/etc/ssh/ssh_host_*").isEmpty, "a base image must not ship host keys")
        #expect(throws: GuestfsError.self) { try g.cat("/no/such/file") }
        // The quick probe the seal and verify use finds the root that full inspection found.
        try g.unmountAll()
        #expect(try g.mountOperatingSystem(readOnly: true) == root)
        #expect(g.mounts.map(\.mountpoint) == ["/"])
        #expect(try g.exists("/etc/cloud/cloud.cfg.d/90-kvmbuild-image.cfg"))
        try g.shutdown()
    }
}
