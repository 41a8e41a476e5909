/// How the build guest runs: hardware virtualisation or QEMU's software emulation.
public enum Accelerator: String, Sendable, Codable, CaseIterable {
    case kvm, tcg

    /// The libvirt domain type for this accelerator.
    public var libvirtDomainType: String { self == .kvm ? "kvm" : "qemu" }
}

/// What the user asked for with `--accel`.
public enum AcceleratorRequest: String, Sendable, Codable, CaseIterable {
    case auto, kvm, tcg
}
