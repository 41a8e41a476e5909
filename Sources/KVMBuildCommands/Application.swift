import ArgumentParser
import Foundation
import KVMBuildSupport

public struct Application: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kvmbuild",
        abstract: "Build OpenStack VM images on a local QEMU/KVM host.",
        discussion: "Start with `kvmbuild check`, then `kvmbuild compute`.",
        version: "kvmbuild \(KVMBuildVersion.string)",
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
        // Usage errors and --help are ArgumentParser's to print, with its exit codes.
        var command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        let json = (arguments ?? CommandLine.arguments).contains("--json")
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as KVMBuildError {
            report(error, json: json)
        } catch let code as ExitCode {
            // check (2: cannot build) and validate (1: problems) have said why already.
            exit(withError: code)
        } catch is CancellationError {
            report(KVMBuildError(.interrupted, "interrupted; everything created was removed"), json: json)
        } catch {
            // --help comes back from ArgumentParser's own help command: its text, exit 0.
            if exitCode(for: error) == .success { exit(withError: error) }
            report(KVMBuildError(.internalError, "unexpected error: \(error)", fix: "please report it with the command you ran (--verbose shows each step)"), json: json)
        }
    }

    /// One line on stderr (`error: what — fix`), or with --json one JSON object
    /// (`{"error": …, "fix": …, "code": …}`), and the exit code: 130 when interrupted, else 1.
    static func report(_ error: KVMBuildError, json: Bool) -> Never {
        if json {
            let object: [String: Any] = ["error": error.message + (error.cause.map { ": \($0)" } ?? ""), "fix": error.fix ?? NSNull(), "code": error.code.rawValue]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            Console.shared.passthrough(String(decoding: data, as: UTF8.self))
        } else {
            Console.shared.error(error.description)
        }
        Foundation.exit(error.code == .interrupted ? 130 : 1)
    }
}
