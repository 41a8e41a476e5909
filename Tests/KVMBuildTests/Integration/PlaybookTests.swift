import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The compute play on a live guest in `builder`: installed and enabled, nothing started.
/// Then shutdown, seal (with its checks) and export, and an interrupt (cancellation) after export: everything is undone.
extension IntegrationTests {
@Suite(.serialized) struct PlaybookTests {
    @Test func builderGetsServicesEnabledButNotStarted() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let target = try TargetsFile.load(path: harness.project + "/kvmbuild.yml").target("compute")
        let checks = GuestCheckPhase(name: "check builder state") { _, ssh in
            let v1 = try await ssh.sudo("systemctl is-enabled munge slurmd")
            #expect(v1 == "enabled\nenabled")
            let v2 = try await ssh.sudo("systemctl is-active munge slurmd || true")
            #expect(v2 == "inactive\ninactive")
            let v3 = try await ssh.sudo("stat -c '%U:%G %a %s' /etc/munge/munge.key")
            #expect(v3 == "munge:munge 400 1024")
            let v4 = try await ssh.sudo("test -e /etc/slurm/slurm.conf && echo present || echo absent")
            #expect(v4 == "absent")
            let v5 = try await ssh.sudo("cat /etc/default/slurmd")
            #expect(v5.contains("--conf-server slurm-control"))
            let v6 = try await ssh.sudo("grep -c ' /mnt/home nfs ' /etc/fstab")
            #expect(v6 == "1")
            let v7 = try await ssh.sudo("findmnt /mnt/home >/dev/null && echo mounted || echo not-mounted")
            #expect(v7 == "not-mounted")
            let v8 = try await ssh.sudo("test -e /usr/sbin/policy-rc.d && echo left || echo gone")
            #expect(v8 == "gone")
        }
        // The same build then runs the late phases and is interrupted once the image is
        // exported: the export must go too, and nothing becomes latest.
        let phases: [any BuildPhase] = [PreflightPhase(), BaseImagePhase(), ConfigDrivePhase(), BootPhase(), WaitForSSHPhase(),
                                        ProvisionPhase(), checks, ShutdownPhase(), SealPhase(), CancelAfter(phase: ExportPhase())]
        try await expectInterrupted(during: "export", harness) {
            _ = try await Builder.run(target: target, options: testOptions(harness), phases: phases)
        }
        let folder = try #require(harness.states().first?.folder)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".qcow2") || $0.contains(".partial") }.isEmpty,
                "an interrupted build keeps no exported image")
    }
}
}
