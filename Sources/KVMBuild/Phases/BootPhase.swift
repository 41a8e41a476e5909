import Foundation
import KVMBuildSupport

/// Starts the guest as a transient libvirt domain: nothing stays defined once it stops.
struct BootPhase: BuildPhase {
    let name = "boot"

    func run(_ build: BuildContext) async throws {
        let driver = try build.output(\.guests), hostKey = try build.output(\.hostPublicKey)
        let accelerator = try build.output(\.accelerator)
        let reservation = try PortReservation.reserve(lockDirectory: build.options.cacheDirectory + "/ports")
        build.addCleanup("release port \(reservation.port)") { reservation.release() }
        try build.produce(\.guestPort, reservation)
        try SSHClient.knownHostsLine(port: reservation.port, publicKey: hostKey)
            .write(toFile: build.paths.knownHosts, atomically: true, encoding: .utf8)

        let domain = GuestDomain(
            name: build.domainName, accelerator: accelerator, memoryMiB: build.target.memoryMiB, vcpus: build.target.vcpus,
            disk: build.paths.overlay, configDrive: build.paths.configDrive, consoleLog: build.paths.consoleLog,
            sshPort: reservation.port,
            metadata: .init(id: build.id, target: build.target.name, pid: getpid(), folder: build.paths.root))

        build.state.sshPort = reservation.port
        build.saveState()
        // Registered before the start: a domain that starts as the call fails is still found by name.
        let domainName = build.domainName
        build.addCleanup("destroy domain \(domainName)") { try? driver.destroy(domainName) }
        do {
            try driver.start(xml: domain.xml())
        } catch {
            // A /dev/kvm that opens on a CPU without vmx/svm (nested sandboxes) can make QEMU abort
            // at start ("failed to set MSR"), where other such hosts hang after the BIOS instead.
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let noHardware = accelerator == .kvm && CPUVirtualization.parse(cpuinfo: flags).ext == nil
            let fix = noHardware
                ? "hardware virtualisation unavailable (the CPU flags lack vmx/svm): build with --accel tcg (or auto), see kvmbuild check"
                : "see kvmbuild check and /var/log/libvirt/qemu/\(domainName).log (if libvirtd stopped: start it, then kvmbuild clean \(build.paths.name))"
            throw KVMBuildError(.libvirt, "libvirt could not start the guest", fix: fix, cause: error)
        }
        build.console.info("guest \(domainName) started (\(accelerator.rawValue)); ssh on 127.0.0.1:\(reservation.port); console: \(build.paths.consoleLog)")
    }
}
