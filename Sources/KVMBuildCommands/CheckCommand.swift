import ArgumentParser
import KVMBuild
import KVMBuildSupport

/// `kvmbuild check`: can this host build images, and with which accelerator?
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the host: hardware virtualisation, /dev/kvm, libvirt, tools, disk and memory.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions

    @Option(help: "Accelerator: auto (kvm only when it works), kvm (fail without it), tcg.")
    var accel: AcceleratorRequestArgument = .auto

    func run() async throws {
        output.apply()
        let check = HostCheck(libvirtURI: host.libvirtURI, accelerator: AcceleratorRequest(rawValue: accel.rawValue)!,
                              buildDirectory: host.resolvedBuildDir, cacheDirectory: host.resolvedCacheDir)
        let report = await check.run()
        if output.json {
            try JSON.print(report)
        } else {
            HostReportPrinter.print(report)
        }
        if !report.canBuild { throw ExitCode(2) }
    }
}

enum HostReportPrinter {
    static func print(_ report: HostReport) {
        let console = Console.shared
        for item in report.checks {
            let mark = switch item.status { case .pass: "ok  "; case .warn: "warn"; case .fail: "FAIL" }
            var line = "[\(mark)] \(item.name): \(item.detail)"
            if let fix = item.fix, item.status != .pass { line += " — \(fix)" }
            console.passthrough(line)
        }
        console.result("accelerator: \(report.accelerator.rawValue) (\(report.acceleratorReason))")
        console.result(report.canBuild ? "host can build images" : "host cannot build images: fix the FAIL lines above")
    }
}
