import KVMBuildSupport

/// Host facts → kvm or tcg, and a libvirt connection for the phases that follow.
struct PreflightPhase: BuildPhase {
    let name = "preflight"

    func run(_ build: BuildContext) async throws {
        let options = build.options
        let check = HostCheck(libvirtURI: options.libvirtURI, accelerator: options.accelerator,
                              buildDirectory: options.buildDirectory, cacheDirectory: options.cacheDirectory)
        let report = await check.run()
        try build.produce(\.hostReport, report)
        let failures = report.checks.filter { $0.status == .fail && !(options.ignorePreflight && $0.name == "accelerator") }
        if let first = failures.first {
            failures.dropFirst().forEach { build.console.error("\($0.name): \($0.detail)") }
            throw KVMBuildError(.hostUnfit, "host check failed: \(first.name): \(first.detail)", fix: first.fix ?? "see kvmbuild check")
        }
        let accelerator: Accelerator
        if options.ignorePreflight, options.accelerator == .kvm {
            accelerator = .kvm
            build.console.warning("--ignore-preflight: forcing kvm although the check says \(report.acceleratorReason)")
        } else {
            accelerator = report.accelerator
        }
        try build.produce(\.accelerator, accelerator)
        if accelerator == .tcg {
            build.console.warning("accelerator tcg: SOFTWARE EMULATION (\(report.acceleratorReason)); the build runs several times slower than with kvm")
        } else {
            build.console.info("accelerator kvm")
        }
        let guests: any GuestDriver
        do {
            guests = try build.tools.connectGuests(options.libvirtURI)
        } catch {
            throw KVMBuildError(.libvirt, "libvirt unreachable at \(options.libvirtURI)", fix: "start libvirtd (scripts/setup-host.sh)", cause: error)
        }
        try build.produce(\.guests, guests)
    }
}
