import Foundation
import Testing
@testable import KVMBuild

@Suite struct CPUFlagsTests {
    func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "txt"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func intelWithVMX() throws {
        let cpu = CPUVirtualization.parse(cpuinfo: try fixture("cpuinfo-intel-vmx"))
        #expect(cpu.ext == .vmx)
        #expect(cpu.modelName == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz")
    }

    @Test func amdWithSVM() throws {
        #expect(CPUVirtualization.parse(cpuinfo: try fixture("cpuinfo-amd-svm")).ext == .svm)
    }

    @Test func neitherFlag() throws {
        // "vmx flags" lines and words like "hypervisor" must not count as vmx.
        #expect(CPUVirtualization.parse(cpuinfo: try fixture("cpuinfo-none")).ext == nil)
    }
}

@Suite struct AcceleratorDecisionTests {
    let goodKVM = KVMDeviceStatus(path: "/dev/kvm", exists: true, openError: nil, apiVersion: 12, createVMError: nil)
    let vmx = CPUVirtualization(ext: .vmx, modelName: nil)
    let noFlags = CPUVirtualization(ext: nil, modelName: nil)
    var libvirt: LibvirtProbe {
        var probe = LibvirtProbe()
        probe.reachable = true
        probe.offersKVM = true
        probe.offersQEMU = true
        return probe
    }

    func check(_ request: AcceleratorRequest) -> HostCheck {
        HostCheck(libvirtURI: "qemu:///system", accelerator: request, buildDirectory: "/tmp", cacheDirectory: "/tmp")
    }

    @Test func kvmOnlyWhenFlagsAndDeviceAgree() {
        #expect(check(.auto).decide(cpu: vmx, kvm: goodKVM, libvirt: libvirt).accelerator == .kvm)
        // This project's own host: /dev/kvm answers, the flags are missing, a KVM guest would hang.
        let decision = check(.auto).decide(cpu: noFlags, kvm: goodKVM, libvirt: libvirt)
        #expect(decision.accelerator == .tcg)
        #expect(decision.item.status == .warn)
        #expect(decision.reason.contains("vmx/svm"))
    }

    @Test func missingDeviceMeansTCG() {
        let missing = KVMDeviceStatus(path: "/dev/kvm", exists: false, openError: nil, apiVersion: nil, createVMError: nil)
        #expect(check(.auto).decide(cpu: vmx, kvm: missing, libvirt: libvirt).accelerator == .tcg)
    }

    @Test func requestedKVMFailsWithReason() {
        let decision = check(.kvm).decide(cpu: noFlags, kvm: goodKVM, libvirt: libvirt)
        #expect(decision.item.status == .fail)
        #expect(decision.item.detail.contains("vmx/svm"))
    }

    @Test func requestedTCGIsHonoured() {
        #expect(check(.tcg).decide(cpu: vmx, kvm: goodKVM, libvirt: libvirt).accelerator == .tcg)
    }
}

/// The real check on this machine: /dev/kvm present, no vmx/svm → tcg, and a build can run.
@Suite(.serialized) struct RealHostCheckTests {
    @Test func thisHostDecidesTCG() async throws {
        let cpu = CPUVirtualization.parse(cpuinfo: try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
        try #require(cpu.ext == nil, "this test describes hosts without vmx/svm, like CI's")
        let report = await HostCheck(libvirtURI: "qemu:///system", accelerator: .auto, buildDirectory: "/tmp", cacheDirectory: "/tmp").run()
        #expect(report.accelerator == .tcg)
        #expect(report.item("libvirt")?.status == .pass)
        #expect(report.canBuild)
    }

    @Test func unreachableLibvirtFailsFastWithFix() async {
        let report = await HostCheck(libvirtURI: "qemu+unix:///system?socket=/nonexistent/libvirt-sock", accelerator: .auto,
                                     buildDirectory: "/tmp", cacheDirectory: "/tmp").run()
        #expect(!report.canBuild)
        let item = report.item("libvirt")
        #expect(item?.status == .fail)
        #expect(item?.fix?.contains("libvirtd") == true)
    }
}
