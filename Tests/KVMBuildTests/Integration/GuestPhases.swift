import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

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

/// Stands in for the export phase with an image already exported (by the E2E build), so the
/// phases after it run on a real export without building one again.
struct ReuseExport: BuildPhase {
    let name = "export"
    let image: ExportedImage

    func run(_ build: BuildContext) async throws { try build.produce(\.export, image) }
}
