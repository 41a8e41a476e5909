import Foundation

/// `manifest.json`: what was built, from what, how, and how long each phase took.
public struct Manifest: Sendable, Codable {
    public struct Inputs: Sendable, Codable {
        public let baseImageSource: String
        public let baseImageSha256: String
        public let playbook: String
        public let playbookTreeSha256: String
        public let groups: [String]
        /// Names only: values may be passwords. `extraVarsDigest` changes when any value does.
        public let extraVarNames: [String]
        /// HMAC-SHA256 (under the build host's own key) over the sorted name=value lines.
        public let extraVarsDigest: String?
        public let secretVarNames: [String]
        public let varFiles: [String]
        public let mungeKeyProvided: Bool
        public let seed: String
    }

    public let name: String
    public let target: String
    public let buildId: String
    public let created: Date
    public let gitSha: String
    public let accelerator: String
    public let image: ExportedImage
    public let inputs: Inputs
    /// InputsFingerprint of this build; a build with the same one can reuse this image.
    public let inputsSha256: String?
    public let phases: [PhaseTiming]
    public let ansiblePlaySeconds: Double?
    public let sealed: [String]
    public let verified: [ImageChecks.Check]
    /// "secret scan: passed, N bytes scanned": what the export was searched for, and the counts.
    public let secretScan: SecretScanReport?
    /// The boot test of the export: each check, first boot to SSH; nil with `testSkipped`.
    public let test: InstanceTestReport?
    public let testSkipped: String?
    /// The Slurm cluster test (`--test-cluster`): nil when it was not asked for.
    public var testCluster: ClusterTestReport?
    public let glance: Target.GlanceSettings
    /// `kvmbuild --version` of the kvmbuild that made it (nil in manifests older than 0.10).
    public var kvmbuildVersion: String?

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func load(_ path: String) throws -> Manifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
