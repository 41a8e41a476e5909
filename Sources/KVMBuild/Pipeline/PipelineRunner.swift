import Foundation
import KVMBuildSupport
import Libvirt

/// Walks the phases in order, times each, and on failure applies the on-error policy to the
/// cleanups the phases registered. Interrupts always clean up.
struct PipelineRunner {
    let phases: [any BuildPhase]
    let interrupts: InterruptMonitor
    /// Where `--on-error=ask` reads its answers: the terminal, or a script in unit tests.
    var answers = Answers.terminal

    struct Answers: Sendable {
        let available: @Sendable () -> Bool
        let next: @Sendable () -> String?
        static let terminal = Answers(available: { isatty(STDIN_FILENO) == 1 }, next: { readLine() })
    }

    func run(_ build: BuildContext) async throws {
        let console = build.console
        var index = 0
        while index < phases.count {
            let phase = phases[index]
            console.info("==> \(phase.name)")
            let start = Date()
            do {
                try Task.checkCancellation()
                try await phase.run(build)
                let seconds = Date().timeIntervalSince(start)
                build.timings.append(PhaseTiming(phase: phase.name, seconds: seconds))
                console.debug(String(format: "%@ took %.1f s", phase.name, seconds))
                index += 1
            } catch {
                let failure = describe(error, phase: phase, build: build)
                build.state.failure = .init(phase: phase.name, code: failure.code.rawValue, error: failure.message, fix: failure.fix)
                if interrupts.signal != nil || error is CancellationError {
                    await finish(build, status: .interrupted)
                    throw failure
                }
                if build.options.onError != .cleanup { console.error("\(phase.name) failed: \(failure)") }
                if let tail = (error as? KVMBuildError)?.cause as? ConsoleTail { console.passthrough(tail.text) }
                switch await decide(build, phase: phase) {
                case .retry:
                    build.discardOutputs(of: phase.name)
                    continue
                case .abort:
                    build.state.status = .aborted
                    build.saveState()
                    printAbortHint(build)
                    throw failure
                case .cleanup:
                    await finish(build, status: .failed)
                    throw failure
                }
            }
        }
        await build.runCleanups(failed: false)
        build.state.status = .succeeded
        build.saveState()
        printTimings(build)
    }

    private enum Choice { case retry, abort, cleanup }

    private func decide(_ build: BuildContext, phase: any BuildPhase) async -> Choice {
        switch build.options.onError {
        case .cleanup: return .cleanup
        case .abort: return .abort
        case .ask:
            guard answers.available() else {
                build.console.warning("--on-error=ask needs a terminal on stdin; cleaning up")
                return .cleanup
            }
            while true {
                build.console.passthrough("[c] clean up and exit  [a] abort, leave the guest running  [r] retry \(phase.name)  [s] show how to ssh in")
                build.console.prompt("choice> ")
                guard let line = answers.next()?.trimmingCharacters(in: .whitespaces).lowercased() else { return .cleanup }
                switch line {
                case "c", "cleanup": return .cleanup
                case "a", "abort": return .abort
                case "r", "retry": return .retry
                case "s", "ssh": printSSHHint(build)
                default: continue
                }
            }
        }
    }

    private func finish(_ build: BuildContext, status: BuildState.Status) async {
        // Cleanups must run to completion even though this task was cancelled: give them a fresh task.
        await Task { await build.runCleanups(failed: true) }.value
        build.state.status = status
        build.saveState()
        BuildFolder.pruneAfterFailure(build.paths)
    }

    private func describe(_ error: Error, phase: any BuildPhase, build: BuildContext) -> KVMBuildError {
        if let signal = interrupts.signal {
            return KVMBuildError(.interrupted, "build interrupted by \(InterruptMonitor.name(signal)) during \(phase.name); everything it created was removed")
        }
        if error is CancellationError { return KVMBuildError(.interrupted, "build cancelled during \(phase.name)") }
        if let error = error as? KVMBuildError { return error }
        if let error = error as? LibvirtError {
            if error.isConnectionLost || build.outputIfMade(\.guests)?.isAlive == false {
                // libvirtd stopped under us: the guest (qemu) may still run, and only libvirt can stop it.
                return KVMBuildError(.libvirt, "\(phase.name): lost the connection to libvirt", fix: "start libvirtd (scripts/setup-host.sh), then run kvmbuild clean \(build.paths.name) to remove what this build could not", cause: error)
            }
            return KVMBuildError(.libvirt, "\(phase.name): libvirt refused \(error.operation)", fix: "see kvmbuild check and libvirtd's log", cause: error)
        }
        return KVMBuildError(.internalError, "\(phase.name) failed", fix: "report this kvmbuild bug with the build's state.json", cause: error)
    }

    /// The guest the build runs now (state.json says which): the build guest, or in the test
    /// phase the instance booted from the export, with its own port and user.
    private func printSSHHint(_ build: BuildContext) {
        guard let port = build.state.sshPort ?? build.sshPort else {
            build.console.passthrough("the guest has no SSH port yet")
            return
        }
        build.console.passthrough("kvmbuild ssh \(build.paths.name)   (or: ssh -i \(build.paths.buildKey) -o UserKnownHostsFile=\(build.paths.knownHosts) -p \(port) \(build.state.sshUser)@127.0.0.1)")
    }

    private func printAbortHint(_ build: BuildContext) {
        guard build.sshPort != nil else {
            // Failed before the boot: there is no guest to debug, only the build folder.
            build.console.warning("kept the build folder for debugging (--on-error=abort); no guest was started")
            build.console.passthrough("when done: kvmbuild clean \(build.paths.name)")
            return
        }
        build.console.warning("left the build running for debugging (--on-error=abort):")
        printSSHHint(build)
        build.console.passthrough("console: kvmbuild console \(build.paths.name)    when done: kvmbuild clean \(build.paths.name)")
    }

    private func printTimings(_ build: BuildContext) {
        let total = build.timings.reduce(0) { $0 + $1.seconds }
        let parts = build.timings.map { String(format: "%@ %.1fs", $0.phase, $0.seconds) }
        build.console.info(String(format: "phases: %@ — total %.1f s", parts.joined(separator: ", "), total))
    }
}

/// The last lines of the serial console, attached to boot failures.
public struct ConsoleTail: Error, Sendable, CustomStringConvertible {
    public let text: String
    public var description: String { "see the console tail above" }
}
