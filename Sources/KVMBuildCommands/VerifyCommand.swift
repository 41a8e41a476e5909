import ArgumentParser
import Foundation
import KVMBuild
import KVMBuildSupport

/// `kvmbuild verify IMAGE`: the checks a build runs after its seal, on any exported image, read-only.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove an exported image offline: units enabled, files as expected, no build leftovers.")

    @Argument(help: "The .qcow2 to inspect.")
    var image: String

    @Option(name: .customLong("target"), help: "Target whose expectations apply.")
    var targetName = "compute"

    @Option(name: .customLong("file"), help: "Targets file.")
    var targetsFile = TargetsFile.defaultFileName

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions

    func run() async throws {
        output.apply()
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/")
        let target = try TargetsFile.load(path: InstalledFiles.targetsFile(targetsFile, defaultName: TargetsFile.defaultFileName, base: cwd)).target(targetName)
        let accelerator = await HostCheck(libvirtURI: host.libvirtURI, accelerator: .auto,
                                          buildDirectory: host.resolvedBuildDir, cacheDirectory: host.resolvedCacheDir).run().accelerator
        let verifier = ImageVerifier(image: PathExpansion.resolve(image, base: cwd),
                                     checks: ImageChecks(expectations: target.verify, buildUser: target.sshUser,
                                                                         buildHostname: ImageChecks.buildHostname(target: target.name)), forceTCG: accelerator == .tcg)
        let checks = try await verifier.verify()
        if output.json {
            try JSON.print(checks)
        } else {
            for check in checks { Console.shared.passthrough("[\(check.passed ? "ok  " : "FAIL")] \(check.name): \(check.detail)") }
        }
        let failed = checks.filter { !$0.passed }
        if !failed.isEmpty {
            throw KVMBuildError(.verifyFailed, "\(failed.count) of \(checks.count) checks failed on \(image)", fix: "rebuild the image; see the FAIL lines")
        }
        if !output.json { Console.shared.result("\(image): \(checks.count) checks passed") }
    }
}
