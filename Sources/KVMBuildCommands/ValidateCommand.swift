import ArgumentParser
import KVMBuild
import KVMBuildSupport

/// `kvmbuild validate [NAME]`: check a target's inputs without building; every problem at once.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check a target's inputs without building.")

    @Argument(help: "Target name (default: every target).")
    var target: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions
    @OptionGroup var build: BuildArguments

    struct Outcome: Encodable { let target: String; let problems: [String] }

    func run() async throws {
        output.apply()
        let names = try target.map { [$0] } ?? build.loadTargets().targets.keys.sorted()
        var outcomes: [Outcome] = []
        for name in names {
            let (resolved, options) = try build.resolve(targetName: name, host: host)
            let problems = await TargetValidator(target: resolved, options: options).problems()
            outcomes.append(Outcome(target: name, problems: problems.map(\.description)))
            if !output.json {
                if problems.isEmpty { Console.shared.result("\(name): ok") }
                problems.forEach { Console.shared.error("\(name): \($0)") }
            }
        }
        if output.json { try JSON.print(outcomes) }
        if outcomes.contains(where: { !$0.problems.isEmpty }) { throw ExitCode(1) }
    }
}
