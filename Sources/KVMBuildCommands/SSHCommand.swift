import ArgumentParser
import CShims
import Foundation
import KVMBuild
import KVMBuildSupport

/// `kvmbuild ssh [BUILD]`: an interactive shell in a running build guest (pinned key, right port).
struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Open an SSH session into a running build guest.")

    @Argument(help: "Build folder name, id or target (default: the only running build).")
    var build: String?

    @Argument(parsing: .postTerminator, help: "Command to run instead of a shell (after --).")
    var command: [String] = []

    @OptionGroup var host: HostOptions

    func run() async throws {
        let entry = try BuildRegistry(buildDirectory: host.resolvedBuildDir, libvirtURI: host.libvirtURI).find(build)
        let paths = BuildPaths(root: entry.folder, name: entry.state.name)
        guard entry.domainRunning, let port = entry.state.sshPort, FileManager.default.fileExists(atPath: paths.buildKey) else {
            throw KVMBuildError(.notFound, "build \(entry.name) has no running guest to ssh into", fix: "start a build with --on-error=abort or ask to keep the guest")
        }
        let client = SSHClient(port: port, user: entry.state.sshUser, privateKey: paths.buildKey, knownHosts: paths.knownHosts)
        let ssh = try ProcessSpec("ssh").resolvedExecutable()
        let args = [ssh] + client.options + ["-t", "\(entry.state.sshUser)@127.0.0.1"] + command
        // Replace this process: the terminal belongs to ssh now.
        let argv = args.map { strdup($0) } + [nil]
        kvmb_reset_signals_for_exec()
        execv(ssh, argv)
        throw KVMBuildError(.processFailed, "cannot exec ssh: \(String(cString: strerror(errno)))")
    }
}
