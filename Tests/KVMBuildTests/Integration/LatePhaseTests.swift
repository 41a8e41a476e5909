import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The phases after the guest, run on the base image's own overlay without booting it (a real
/// libguestfs appliance and a real qemu-img): a seal whose checks fail exports nothing, and an
/// interrupt right after the export takes the exported image away. Neither publishes anything.
extension IntegrationTests {
@Suite(.serialized) struct LatePhaseTests {
    @Test func failedChecksAfterTheSealExportNothing() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let target = try TargetsFile.load(path: harness.project + "/kvmbuild.yml").target("compute")
        do {
            _ = try await Builder.run(target: target, options: testOptions(harness),
                                      phases: [PreflightPhase(), BaseImagePhase(), SealPhase(), ExportPhase(), PublishPhase()])
            Issue.record("the checks passed on a disk the play never ran on")
        } catch let error as KVMBuildError {
            // The base image has neither munge nor slurmd.
            #expect(error.code == .verifyFailed, "\(error)")
            #expect(error.message.contains("enabled munge.service"), "\(error)")
        }
        try expectNoImage(harness)
        try harness.expectNothingLeftBehind()
    }

    @Test func interruptRightAfterTheExportRemovesTheImage() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let target = try TargetsFile.load(path: harness.project + "/kvmbuild.yml").target("compute")
        try await expectInterrupted(during: "export", harness) {
            _ = try await Builder.run(target: target, options: testOptions(harness),
                                      phases: [PreflightPhase(), BaseImagePhase(), CancelAfter(phase: ExportPhase()), PublishPhase()])
        }
        try expectNoImage(harness)
    }

    /// No image, partial or overlay anywhere under the build directory (a build that never
    /// booted has no logs worth keeping, so its folder goes entirely), and no latest link.
    func expectNoImage(_ harness: Harness, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let files = FileManager.default.enumerator(atPath: harness.buildDir)?.compactMap { $0 as? String } ?? []
        let images = files.filter { $0.hasSuffix(".qcow2") || $0.contains(".partial") }
        #expect(images.isEmpty, "left: \(images)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: harness.buildDir + "/compute-latest"), sourceLocation: sourceLocation)
    }
}
}
