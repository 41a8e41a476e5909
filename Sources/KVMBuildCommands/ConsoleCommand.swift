import ArgumentParser
import CShims
import Foundation
import KVMBuild
import KVMBuildSupport

/// `kvmbuild console [BUILD]`: the build guest's serial console log, followed while it runs.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "console", abstract: "Show (and follow) a build's serial console log.")

    @Argument(help: "Build folder name, id or target (default: the only running build).")
    var build: String?

    @Flag(name: .long, help: "Print the log and exit instead of following it.")
    var noFollow = false

    @OptionGroup var host: HostOptions

    func run() async throws {
        let entry = try BuildRegistry(buildDirectory: host.resolvedBuildDir, libvirtURI: host.libvirtURI).find(build)
        let log = BuildPaths(root: entry.folder, name: entry.state.name).consoleLog
        guard FileManager.default.fileExists(atPath: log) else {
            throw KVMBuildError(.notFound, "build \(entry.name) has no console log", fix: "the guest never started; see kvmbuild list")
        }
        let follow = !noFollow && entry.domainRunning
        let tail = try ProcessSpec("tail").resolvedExecutable()
        let args = [tail, "-n", "+1"] + (follow ? ["-F"] : []) + [log]
        kvmb_reset_signals_for_exec()
        execv(tail, args.map { strdup($0) } + [nil])
        throw KVMBuildError(.processFailed, "cannot exec tail: \(String(cString: strerror(errno)))")
    }
}
