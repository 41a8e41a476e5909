import ArgumentParser
import Foundation
import KVMBuildSupport

public struct Application: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kvmbuild",
        abstract: "Build OpenStack VM images on a local QEMU/KVM host.",
        discussion: "Start with `kvmbuild check`, then `kvmbuild compute`.",
        subcommands: [
            CheckCommand.self,
            ComputeCommand.self,
            BuildCommand.self,
            ValidateCommand.self,
            VerifyCommand.self,
            TestCommand.self,
            SSHCommand.self,
            ConsoleCommand.self,
            ListCommand.self,
            CleanCommand.self,
            UploadCommand.self,
        ])

    public init() {}

    /// Parses the command line, runs the verb, and turns every error into one line and an exit code.
    public static func run(arguments: [String]? = nil) async {
        // A peer that goes away (libvirtd stopped, Glance cut the upload) must be an error we
        // report and clean up after, not SIGPIPE killing us mid-build. Children get it back
        // (ProcessRunner resets signal dispositions).
        signal(SIGPIPE, SIG_IGN)
        // Images carry the cluster's munge key and logs may show what a play did: everything
        // kvmbuild creates is private to its user unless --output-group says otherwise.
        umask(0o077)
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as KVMBuildError {
            Console.shared.error(error.description)
            Foundation.exit(error.code == .interrupted ? 130 : 1)
        } catch {
            exit(withError: error)
        }
    }
}
