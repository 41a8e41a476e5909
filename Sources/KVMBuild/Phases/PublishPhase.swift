import Foundation
import KVMBuildSupport

/// Writes the manifest and points `build/<target>-latest` at this build — only now, after
/// verification, so a failed build never becomes "latest".
struct PublishPhase: BuildPhase {
    let name = "publish"

    func run(_ build: BuildContext) async throws {
        let export = try build.output(\.export), base = try build.output(\.base)
        let playbookDir = URL(fileURLWithPath: build.target.playbook).deletingLastPathComponent().path
        let manifest = Manifest(
            name: build.paths.name, target: build.target.name, buildId: build.id, created: build.started,
            gitSha: await BuildFolder.gitSha(in: build.options.projectDirectory), accelerator: try build.output(\.accelerator).rawValue,
            image: export,
            inputs: .init(baseImageSource: base.source, baseImageSha256: base.sha256, playbook: build.target.playbook,
                          playbookTreeSha256: try TreeHash.sha256(directory: playbookDir), groups: build.target.groups,
                          extraVarNames: build.target.extraVars.keys.sorted(),
                          extraVarsDigest: try Self.varsDigest(build),
                          secretVarNames: build.options.secretVars.values.keys.sorted(), varFiles: build.target.varFiles,
                          mungeKeyProvided: build.target.mungeKey != nil, seed: build.options.seed.rawValue),
            inputsSha256: build.inputsSha256,
            phases: build.timings, ansiblePlaySeconds: build.playSeconds, sealed: build.sealedItems,
            verified: build.verifyChecks, secretScan: build.secretScan,
            test: build.testReport, testSkipped: build.testSkipped, testCluster: build.clusterReport, glance: build.target.glance,
            kvmbuildVersion: KVMBuildVersion.string)
        try manifest.write(to: build.paths.manifest)
        build.manifest = manifest
        build.state.image = export.path
        if let group = try build.options.outputGroup.map(BuildFolder.groupID) { BuildFolder.share(build.paths, group: group) }
        try Self.pointLatest(buildDirectory: build.options.buildDirectory, target: build.target.name, at: build.paths.name)
    }

    static func varsDigest(_ build: BuildContext) throws -> String? {
        guard !build.target.extraVars.isEmpty else { return nil }
        let lines = build.target.extraVars.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        return try HostSecret.load(cacheDirectory: build.options.cacheDirectory).digest(Data(lines.utf8))
    }

    /// Replaces the symlink atomically: readers see the old or the new build, never neither.
    static func pointLatest(buildDirectory: String, target: String, at name: String) throws {
        let link = "\(buildDirectory)/\(target)-latest"
        let temp = "\(link).tmp.\(getpid())"
        unlink(temp)
        guard symlink(name, temp) == 0, rename(temp, link) == 0 else {
            unlink(temp)
            throw KVMBuildError(.io, "cannot update \(link): \(String(cString: strerror(errno)))")
        }
    }
}
