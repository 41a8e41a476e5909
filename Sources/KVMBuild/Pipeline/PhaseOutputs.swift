import KVMBuildSupport

/// One thing a phase makes for the phases after it, and the phase that makes it.
public struct PhaseOutput<Value: Sendable>: Sendable {
    public let producer: String
    var value: Value?

    init(by producer: String) { self.producer = producer }
}

/// What the phases hand each other, in plan order. Read with `try build.output(\.x)`, set with
/// `try build.produce(\.x, value)` (see BuildContext).
public struct PhaseOutputs: Sendable {
    public internal(set) var hostReport = PhaseOutput<HostReport>(by: "preflight")
    /// kvm or tcg: what the host check decided (or --ignore-preflight forced).
    public internal(set) var accelerator = PhaseOutput<Accelerator>(by: "preflight")
    /// How boot, the waits and shutdown reach the hypervisor (libvirt; a double in unit tests).
    public internal(set) var guests = PhaseOutput<any GuestDriver>(by: "preflight")
    public internal(set) var base = PhaseOutput<CachedImage>(by: "base-image")
    /// The public half of the host key the config drive gave the guest, pinned in known_hosts.
    public internal(set) var hostPublicKey = PhaseOutput<String>(by: "config-drive")
    /// The package cache the build guest's apt goes through, as guests reach it; made only
    /// when there is one, for the test phase's controller too.
    public internal(set) var packageProxy = PhaseOutput<String>(by: "config-drive")
    /// The forwarded SSH port, held until the build's cleanups release it.
    public internal(set) var guestPort = PhaseOutput<PortReservation>(by: "boot")
    public internal(set) var export = PhaseOutput<ExportedImage>(by: "export")

    mutating func discard(producer: String) {
        func clear<Value>(_ slot: inout PhaseOutput<Value>) { if slot.producer == producer { slot.value = nil } }
        clear(&hostReport); clear(&accelerator); clear(&guests); clear(&base)
        clear(&hostPublicKey); clear(&packageProxy); clear(&guestPort); clear(&export)
    }
}
