import Foundation
import KVMBuildSupport

/// Builds one target: validates it, makes its folder, runs the plan under signal handling.
public enum Builder {
    public struct Result: Sendable {
        public let paths: BuildPaths
        public let export: ExportedImage
        public let manifest: Manifest
    }

    public static func build(target: Target, options: BuildOptions, phases: [any BuildPhase] = BuildPlan.phases,
                             console: Console = .shared) async throws -> Result {
        let build = try await run(target: target, options: options, phases: phases, console: console)
        guard let export = build.outputIfMade(\.export), let manifest = build.manifest else {
            throw KVMBuildError(.internalError, "the build finished without an exported image")
        }
        return Result(paths: build.paths, export: export, manifest: manifest)
    }

    /// Runs any list of phases (tests run partial plans with their own checking phases).
    public static func run(target: Target, options: BuildOptions, phases: [any BuildPhase],
                           console: Console = .shared, tools: BuildTools = .host) async throws -> BuildContext {
        // Bad inputs fail here, before anything exists that would need undoing.
        let problems = await TargetValidator(target: target, options: options).problems()
        if let first = problems.first {
            problems.dropFirst().forEach { console.error($0.description) }
            throw first
        }

        let id = String(UUID().uuidString.prefix(8)).lowercased()
        let sha = await BuildFolder.gitSha(in: options.projectDirectory)
        let name = BuildFolder.name(pattern: target.outputName, target: target.name, id: id, gitSha: sha)
        let group = try options.outputGroup.map(BuildFolder.groupID)
        let paths = try BuildFolder.create(in: options.buildDirectory, name: name, group: group)
        let build = BuildContext(target: target, options: options, id: id, paths: paths, console: console, tools: tools)
        build.inputsSha256 = try? InputsFingerprint.compute(target: target, options: options)
        build.saveState()
        console.info("building \(target.name) as \(paths.name) in \(paths.root)")

        let interrupts = InterruptMonitor()
        let runner = PipelineRunner(phases: phases, interrupts: interrupts)
        let task = Task { try await runner.run(build) }
        interrupts.start { _ in task.cancel() }
        defer { interrupts.stop() }
        try await task.value
        return build
    }
}
