import ArgumentParser
import KVMBuild
import KVMBuildSupport

/// `kvmbuild compute`: build the Slurm compute-node image (target `compute`).
struct ComputeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute",
        abstract: "Build the Slurm compute-node image (the `compute` target).")

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions
    @OptionGroup var build: BuildArguments

    func run() async throws {
        output.apply()
        try await BuildReporter.runBuild(targetName: "compute", arguments: build, host: host, output: output)
    }
}
