import Foundation
import KVMBuildSupport

/// Generalises the stopped guest's disk and proves it (units enabled, build leftovers gone) in
/// one libguestfs appliance, before anything is exported: a failed check costs no export.
struct SealPhase: BuildPhase {
    let name = "seal"

    func run(_ build: BuildContext) async throws {
        let hostname = ImageChecks.buildHostname(target: build.target.name)
        let sealer = ImageSealer(disk: build.paths.overlay, buildUser: build.target.sshUser, buildHostname: hostname, forceTCG: try build.output(\.accelerator) == .tcg)
        let checks = ImageChecks(expectations: build.target.verify, buildUser: build.target.sshUser, buildHostname: hostname)
        let result: ImageSealer.Result
        // The seal is one appliance run: show that it is alive.
        let progress = Progress(console: build.console)
        let started = Date()
        let ticker = Task {
            while !Task.isCancelled {
                progress.update(String(format: "sealing and verifying in a libguestfs appliance: %.0f s", Date().timeIntervalSince(started)))
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
        defer { ticker.cancel(); progress.finish() }
        do {
            result = try await build.tools.sealer.sealAndCheck(sealer, checks)
        } catch {
            throw KVMBuildError(.guestfs, "sealing the disk failed", fix: "run kvmbuild check; libguestfs needs a readable /boot/vmlinuz-*", cause: error)
        }
        build.sealedItems = result.removed
        build.verifyChecks = result.checks
        build.mungeKeyOnDisk = result.mungeKeyOnDisk
        build.console.debug("sealed: \(result.removed.joined(separator: ", "))")
        let failed = result.checks.filter { !$0.passed }
        failed.forEach { build.console.error("verify: \($0.name): \($0.detail)") }
        if let first = failed.first {
            throw KVMBuildError(.verifyFailed, "the sealed image failed \(failed.count) check(s), first: \(first.name): \(first.detail)",
                                fix: "fix the playbook or the seal; nothing was exported")
        }
        build.console.info("sealed and verified: \(result.checks.count) checks passed")
    }
}
