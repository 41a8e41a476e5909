import Foundation
import KVMBuildSupport

/// Waits until the build user can log in with the pinned host key, then for cloud-init.
/// A boot watchdog fails fast when the console goes silent before sshd ever answers —
/// the signature of a KVM guest that hangs after the BIOS.
struct WaitForSSHPhase: BuildPhase {
    let name = "wait-for-ssh"

    func run(_ build: BuildContext) async throws {
        let port = try build.output(\.guestPort).port, guests = try build.output(\.guests)
        let accelerator = try build.output(\.accelerator)
        let client = build.tools.shell(build.login(port: port))
        let console = ConsoleLog(path: build.paths.consoleLog)
        let watch = try GuestWatch(build: build)
        let start = Date()
        var lastSize = -1
        var lastProgress = Date()
        var sshdSeen = false
        var lastLoginError = ""
        let progress = Progress(console: build.console)
        defer { progress.finish() }

        while true {
            try Task.checkCancellation()
            let now = Date()
            guard try guests.state(build.domainName) != nil else {
                throw failure(.bootStalled, "the guest stopped before SSH came up", fix: "read the console tail above", console)
            }
            try watch.check()
            let size = console.size
            if size != lastSize { lastSize = size; lastProgress = now }
            let lastLine = console.tail(3).split(whereSeparator: \.isNewline).last.map { Progress.printable(String($0)) } ?? ""
            progress.update(String(format: "waiting for ssh: %.0f s%@", now.timeIntervalSince(start), lastLine.isEmpty ? "" : " · console: \(lastLine)"))

            if client.answers() {
                if !sshdSeen { build.console.debug(String(format: "sshd answers after %.0f s", now.timeIntervalSince(start))) }
                sshdSeen = true
                let result = try? await client.run(["true"], timeout: 30)
                if let result, result.succeeded { break }
                lastLoginError = result?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "login timed out"
            } else if !sshdSeen, now.timeIntervalSince(lastProgress) > build.options.bootWatchdog {
                let cause = accelerator == .kvm
                    ? "likely cause: no usable hardware virtualisation (kvm guests hang after the BIOS on such hosts); run kvmbuild check and build with --accel tcg"
                    : "the guest stopped making progress"
                throw failure(.bootStalled, String(format: "boot stalled: no console output for %.0f s and sshd never answered", build.options.bootWatchdog),
                              fix: cause, console)
            }
            if now.timeIntervalSince(start) > build.options.sshTimeout {
                let what = sshdSeen ? "sshd answers but login as \(build.target.sshUser) failed (\(lastLoginError))" : "sshd never answered"
                throw failure(.sshFailed, String(format: "SSH timeout after %.0f s: %@", build.options.sshTimeout, what),
                              fix: "check the config drive's key and user, or raise --ssh-timeout", console)
            }
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        progress.finish()
        build.console.info(String(format: "ssh up after %.0f s; waiting for cloud-init", Date().timeIntervalSince(start)))

        try await waitForCloudInit(client, watch, build)
        // The test phase proves an instance of the image makes a machine-id of its own.
        build.buildMachineID = (try? await client.run(["cat", "/etc/machine-id"], timeout: 30))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `cloud-init status --wait` over SSH. The login that proved SSH up can come just before
    /// cloud-init's set-passwords module restarts sshd (it does whenever it rewrites
    /// PasswordAuthentication); a connection made during that restart fails with ssh's own exit
    /// status 255, which is a reason to log in again, not a cloud-init failure.
    private func waitForCloudInit(_ client: any GuestShell, _ watch: GuestWatch, _ build: BuildContext) async throws {
        let deadline = Date().addingTimeInterval(15 * 60)
        var status: ProcessResult
        while true {
            status = try await watch.guarding { try await client.run(["cloud-init", "status", "--wait"], timeout: max(30, deadline.timeIntervalSinceNow)) }
            guard status.exitCode == Self.sshTransportFailure, Date() < deadline else { break }
            build.console.info("ssh dropped while waiting for cloud-init (\(status.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); logging in again")
            try await Task.sleep(nanoseconds: 3_000_000_000)
        }
        switch status.exitCode {
        case 0: return
        case 2: build.console.warning("cloud-init finished with recoverable errors: \(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        case Self.sshTransportFailure:
            throw KVMBuildError(.sshFailed, "ssh to the guest kept failing while waiting for cloud-init: \(status.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                                fix: "read the console log \(build.paths.consoleLog)")
        default:
            let long = (try? await client.run(["cloud-init", "status", "--long"], timeout: 60))?.stdout ?? ""
            let detail = long.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
            throw KVMBuildError(.provisionFailed, "cloud-init failed in the guest (status --wait exited \(status.exitCode)): \(detail.isEmpty ? status.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : detail)",
                                fix: "read /var/log/cloud-init.log in the guest (--on-error=abort, then kvmbuild ssh)")
        }
    }

    /// ssh's own exit status when the connection, not the remote command, failed.
    private static let sshTransportFailure: Int32 = 255

    private func failure(_ code: KVMBuildError.Code, _ message: String, fix: String, _ console: ConsoleLog) -> KVMBuildError {
        KVMBuildError(code, message, fix: fix, cause: ConsoleTail(text: "last console lines:\n" + console.tail(30)))
    }
}
