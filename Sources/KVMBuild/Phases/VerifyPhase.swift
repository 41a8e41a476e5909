import KVMBuildSupport

/// Proves the exported file, read-only: enabled units present, build leftovers absent.
struct VerifyPhase: BuildPhase {
    let name = "verify"

    func run(_ build: BuildContext) async throws {
        guard let export = build.export else { throw KVMBuildError(.internalError, "verify needs an exported image") }
        let verifier = ImageVerifier(image: export.path, expectations: build.target.verify, buildUser: build.target.sshUser,
                                     forceTCG: build.accelerator == .tcg)
        let checks = try await verifier.verify()
        build.verifyChecks = checks
        let failed = checks.filter { !$0.passed }
        failed.forEach { build.console.error("verify: \($0.name): \($0.detail)") }
        if let first = failed.first {
            throw KVMBuildError(.verifyFailed, "the exported image failed \(failed.count) check(s), first: \(first.name): \(first.detail)",
                                fix: "fix the playbook or the seal; the image was not published")
        }
        build.console.info("verified: \(checks.count) checks passed")
    }
}
