import Ansible
import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// A test's own phase: runs checks against the live guest between the product's phases.
struct GuestCheckPhase: BuildPhase {
    let name: String
    let body: @Sendable (BuildContext, SSHClient) async throws -> Void

    func run(_ build: BuildContext) async throws {
        let port = try #require(build.sshPort)
        let client = SSHClient(port: port, user: build.target.sshUser, privateKey: build.paths.buildKey, knownHosts: build.paths.knownHosts)
        try await body(build, client)
    }
}

extension SSHClient {
    /// stdout of a shell command run with sudo in the guest, trimmed.
    func sudo(_ command: String) async throws -> String {
        try await run(["sudo", "sh", "-c", SSHClient.shellQuote(command)], timeout: 120).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs the repo's play against the live guest as a plain compute node (not in builder).
func runPlayAsPlainCompute(_ build: BuildContext, varsYAML: String) async throws -> Int32 {
    var inventory = Inventory(hostName: build.domainName, port: try #require(build.sshPort), user: build.target.sshUser,
                              privateKeyPath: build.paths.buildKey, knownHostsPath: build.paths.knownHosts,
                              controlPath: build.paths.controlPath, parentGroups: ["compute"])
    inventory.buildGroup = nil
    let path = build.paths.root + "/inventory-compute.ini"
    try inventory.render().write(toFile: path, atomically: true, encoding: .utf8)
    let vars = build.paths.root + "/vars-compute.yml"
    try varsYAML.write(toFile: vars, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: vars) }
    let play = PlaybookRun(playbook: Harness.repo + "/ansible/site.yml", inventories: [path], varFiles: [vars],
                           limit: nil, logPath: build.paths.root + "/ansible-compute.log")
    return try await play.run(colour: false) { _ in }
}

func testOptions(_ harness: Harness) -> BuildOptions {
    BuildOptions(buildDirectory: harness.buildDir, cacheDirectory: Harness.cache, projectDirectory: harness.project)
}

/// Runs a product phase, then cancels the build before the next phase starts — exactly what
/// SIGINT/SIGTERM turn into (InterruptMonitor cancels the build's task). Real signals are sent to
/// the kvmbuild binary in other tests; a signal to this test process would land on any of its
/// threads. The cancel path must undo everything up to and including this phase.
struct CancelAfter: BuildPhase {
    let phase: any BuildPhase
    var name: String { phase.name }

    func run(_ build: BuildContext) async throws {
        try await phase.run(build)
        throw CancellationError()
    }
}

/// Expects `body` (a Builder.run) to end as interrupted during `phase`, with nothing left behind.
func expectInterrupted(during phase: String, _ harness: Harness, _ body: () async throws -> Void,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
    do {
        try await body()
        Issue.record("the build was not interrupted", sourceLocation: sourceLocation)
    } catch let error as KVMBuildError {
        #expect(error.code == .interrupted, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains("during \(phase)"), "\(error)", sourceLocation: sourceLocation)
    }
    #expect(harness.states().allSatisfy { $0.state.status == .interrupted }, sourceLocation: sourceLocation)
    #expect(!FileManager.default.fileExists(atPath: harness.buildDir + "/compute-latest"), sourceLocation: sourceLocation)
    try harness.expectNothingLeftBehind(sourceLocation: sourceLocation)
}
