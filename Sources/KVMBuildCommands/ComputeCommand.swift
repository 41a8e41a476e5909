import ArgumentParser
import Glance
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

    @Flag(help: "Upload the image to Glance after a successful build.")
    var upload = false

    @Option(name: .customLong("image-name"), help: "Glance image name with --upload (default: the build's name).")
    var imageName: String?

    @OptionGroup var uploadOptions: UploadOptions

    func run() async throws {
        output.apply()
        let result = try await BuildReporter.runBuild(targetName: "compute", arguments: build, host: host, output: output, quiet: upload)
        guard upload else { return }
        let request = try uploadOptions.request(file: result.export.path, name: imageName ?? result.manifest.name, manifest: result.manifest,
                                                force: build.force)
        let uploaded = try await uploadOptions.upload(request, output: output)
        try UploadOptions.report(uploaded, json: output.json)
    }
}
