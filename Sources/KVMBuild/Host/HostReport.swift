/// The answer of `kvmbuild check`: each check with a reason and a fix, and the accelerator decision.
public struct HostReport: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case pass, warn, fail }

    public struct Item: Sendable, Codable {
        public let name: String
        public let status: Status
        public let detail: String
        public let fix: String?
        public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
            self.name = name; self.status = status; self.detail = detail; self.fix = fix
        }
    }

    public let checks: [Item]
    public let accelerator: Accelerator
    public let acceleratorReason: String
    public let libvirtURI: String
    /// True when a build can run on this host (possibly slowly, under TCG).
    public let canBuild: Bool

    public func item(_ name: String) -> Item? { checks.first { $0.name == name } }
}
