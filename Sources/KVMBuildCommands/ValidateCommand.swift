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
            // A target that does not even resolve (no playbook, a bad path) is one more problem, not the end.
            let problems: [KVMBuildError]
            do {
                let (resolved, options) = try build.resolve(targetName: name, host: host)
                problems = await TargetValidator(target: resolved, options: options).problems()
            } catch let error as KVMBuildError {
                problems = [error]
            }
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
