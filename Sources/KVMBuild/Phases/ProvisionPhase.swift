import Ansible
import Foundation
import KVMBuildSupport

/// Runs the target's playbook with the guest in `builder`, a child of the target's groups.
struct ProvisionPhase: BuildPhase {
    let name = "provision"

    func run(_ build: BuildContext) async throws {
        let port = try build.output(\.guestPort).port
        let inventory = Inventory(hostName: build.domainName, port: port, user: build.target.sshUser,
                                  privateKeyPath: build.paths.buildKey, knownHostsPath: build.paths.knownHosts,
                                  controlPath: build.paths.controlPath, parentGroups: build.target.groups)
        try inventory.render().write(toFile: build.paths.inventory, atomically: true, encoding: .utf8)

        let secretVars = build.options.secretVars
        var play = PlaybookRun(playbook: build.target.playbook, inventories: [build.paths.inventory] + build.options.extraInventories,
                               extraVars: build.target.extraVars, varFiles: build.target.varFiles + [secretVars.file].compactMap { $0 },
                               limit: "builder", vaultPasswordFile: build.options.vaultPasswordFile, logPath: build.paths.ansibleLog)
        play.extraVarsFile = build.paths.extraVarsFile
        play.redactions = Array(secretVars.values.values)
        let run = play
        let start = Date()
        let console = build.console
        // The watch ends the play at once when the guest pauses on a full disk, instead of
        // leaving ansible waiting on a frozen guest.
        let playbooks = build.tools.playbooks
        let code = try await GuestWatch(build: build).guarding {
            try await playbooks.run(run, colour: console.stderrIsTTY) { console.passthrough($0) }
        }
        build.playSeconds = Date().timeIntervalSince(start)
        guard code == 0 else {
            throw KVMBuildError(.provisionFailed, "ansible-playbook failed (exit \(code)); log: \(build.paths.ansibleLog)",
                                fix: "fix the play; --on-error=ask keeps the guest to retry against")
        }
    }
}
