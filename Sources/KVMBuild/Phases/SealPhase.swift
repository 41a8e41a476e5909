/// Generalises the stopped guest's disk (libguestfs, one appliance launch).
struct SealPhase: BuildPhase {
    let name = "seal"

    func run(_ build: BuildContext) async throws {
        let sealer = ImageSealer(disk: build.paths.overlay, buildUser: build.target.sshUser, forceTCG: build.accelerator == .tcg)
        do {
            build.sealedItems = try await sealer.seal()
        } catch {
            throw KVMBuildError(.guestfs, "sealing the disk failed", fix: "run kvmbuild check; libguestfs needs a readable /boot/vmlinuz-*", cause: ErrorMessage("\(error)"))
        }
        build.console.debug("sealed: \(build.sealedItems.joined(separator: ", "))")
    }
}

import KVMBuildSupport
