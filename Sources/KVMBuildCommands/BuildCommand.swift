import ArgumentParser
import KVMBuild
import KVMBuildSupport

/// `kvmbuild build NAME`: build any target from kvmbuild.yml.
struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a target from kvmbuild.yml into a sealed, verified qcow2 in build/.")

    @Argument(help: "Target name in kvmbuild.yml.")
    var target: String

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions
    @OptionGroup var build: BuildArguments

    func run() async throws {
        output.apply()
        try await BuildReporter.runBuild(targetName: target, arguments: build, host: host, output: output)
    }
}

/// Runs a build and reports it the same way for every verb that builds.
enum BuildReporter {
    struct Summary: Encodable {
        let name: String
        let image: String
        let sha256: String
        let sizeBytes: Int64
        let manifest: String
        let accelerator: String
        let seconds: Double
        /// True when no build ran: the newest build had the same inputs.
        let upToDate: Bool
    }

    @discardableResult
    static func runBuild(targetName: String, arguments: BuildArguments, host: HostOptions, output: OutputOptions,
                         quiet: Bool = false) async throws -> Builder.Result {
        let (target, options) = try arguments.resolve(targetName: targetName, host: host)
        if arguments.dryRun { try dryRun(target: target, options: options, arguments: arguments, output: output) }
        let result: Builder.Result
        let existing = arguments.force ? nil : try UpToDateBuild.find(target: target, options: options)
        if let existing {
            Console.shared.info("\(target.name) is up to date: \(existing.paths.name) was built from the same inputs (--force rebuilds)")
            result = existing
        } else {
            result = try await Builder.build(target: target, options: options)
        }
        let summary = Summary(name: result.paths.name, image: result.export.path, sha256: result.export.sha256,
                              sizeBytes: result.export.sizeBytes, manifest: result.paths.manifest,
                              accelerator: result.manifest.accelerator,
                              seconds: result.manifest.phases.reduce(0) { $0 + $1.seconds }, upToDate: existing != nil)
        if quiet {
            // A later step (upload) prints the result scripts read.
            Console.shared.info("image: \(result.export.path)")
        } else if output.json {
            try JSON.print(summary)
        } else {
            Console.shared.result(result.export.path)
        }
        return result
    }

    struct DryRun: Encodable {
        let target: String
        let wouldBuild: Bool
        let reason: String
        let image: String?
    }

    /// `--dry-run`: says whether a build would run and why, and builds nothing; exit 0 either way.
    private static func dryRun(target: Target, options: BuildOptions, arguments: BuildArguments, output: OutputOptions) throws -> Never {
        let decision: UpToDateBuild.Decision = arguments.force ? .build(reason: "--force") : try UpToDateBuild.decide(target: target, options: options)
        let report: DryRun = switch decision {
        case .upToDate(let result): DryRun(target: target.name, wouldBuild: false, reason: "up to date: \(result.paths.name) was built from the same inputs", image: result.export.path)
        case .build(let reason): DryRun(target: target.name, wouldBuild: true, reason: reason, image: nil)
        }
        if output.json { try JSON.print(report) } else { Console.shared.result("\(report.wouldBuild ? "would build" : "would not build") \(target.name): \(report.reason)") }
        throw ExitCode.success
    }
}
