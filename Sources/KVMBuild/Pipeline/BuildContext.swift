import Foundation
import KVMBuildSupport
import Libvirt
import Synchronization

/// The state one build shares between its phases, and the stack of cleanups they registered.
/// Every mutable field is behind a lock (`Mutex`), so the type is Sendable without exceptions.
public final class BuildContext: Sendable {
    public let target: Target
    public let options: BuildOptions
    public let id: String
    public let paths: BuildPaths
    public let console: Console
    /// The programs and libraries the phases drive (BuildTools.host; doubles in unit tests).
    public let tools: BuildTools
    public let started = Date()

    private let cleanups = Mutex<[Cleanup]>([])

    /// What the phases record for the manifest and the state, each field behind the lock: phases
    /// run one at a time, but the signal path and cleanups read this state from other tasks.
    private struct Fields: Sendable {
        var outputs = PhaseOutputs()
        var inputsSha256: String?
        var playSeconds: Double?
        var sealedItems: [String] = []
        var injectedSecrets: [InjectedSecret] = []
        var secretScan: SecretScanReport?
        var mungeKeyOnDisk: [Range<Int64>]?
        var buildMachineID: String?
        var testReport: InstanceTestReport?
        var testSkipped: String?
        var clusterReport: ClusterTestReport?
        var timings: [PhaseTiming] = []
        var manifest: Manifest?
        var verifyChecks: [ImageChecks.Check] = []
        var state: BuildState
    }
    private let fields: Mutex<Fields>

    /// What a later phase needs from an earlier one: `try build.output(\.export)`. Each is set
    /// once, by the phase that makes it; read before that phase ran, it is an internal error that
    /// names the phase (a plan in the wrong order), never a nil to guard against.
    public func output<Value>(_ key: KeyPath<PhaseOutputs, PhaseOutput<Value>>) throws -> Value {
        let slot = fields.withLock { $0.outputs[keyPath: key] }
        guard let value = slot.value else {
            throw KVMBuildError(.internalError, "a phase needs what \(slot.producer) makes, but \(slot.producer) has not run", fix: "report this kvmbuild bug (the build plan is out of order)")
        }
        return value
    }

    /// What a finished or failed build may or may not have got to (the manifest, hints, errors).
    public func outputIfMade<Value>(_ key: KeyPath<PhaseOutputs, PhaseOutput<Value>>) -> Value? {
        fields.withLock { $0.outputs[keyPath: key].value }
    }

    /// Sets a phase's output; a second set (a phase that makes it twice) is an internal error.
    public func produce<Value>(_ key: WritableKeyPath<PhaseOutputs, PhaseOutput<Value>>, _ value: Value) throws {
        try fields.withLock { fields in
            guard fields.outputs[keyPath: key].value == nil else {
                throw KVMBuildError(.internalError, "\(fields.outputs[keyPath: key].producer) made its output twice", fix: "report this kvmbuild bug")
            }
            fields.outputs[keyPath: key].value = value
        }
    }

    /// Before a phase is retried (--on-error=ask): what its failed attempt made goes, so the
    /// retry makes it again.
    func discardOutputs(of phase: String) { fields.withLock { $0.outputs.discard(producer: phase) } }

    /// InputsFingerprint, taken before the first phase (edits made during the build do not count).
    public var inputsSha256: String? { get { fields.withLock { $0.inputsSha256 } } set { fields.withLock { $0.inputsSha256 = newValue } } }
    /// The forwarded SSH port on 127.0.0.1, once the guest has one.
    public var sshPort: Int? { outputIfMade(\.guestPort)?.port }
    /// libvirt, when the preflight connected to it (a unit test's double has none).
    public var libvirt: Connection? { (outputIfMade(\.guests) as? LibvirtGuestDriver)?.connection }
    public var playSeconds: Double? { get { fields.withLock { $0.playSeconds } } set { fields.withLock { $0.playSeconds = newValue } } }
    public var sealedItems: [String] { get { fields.withLock { $0.sealedItems } } set { fields.withLock { $0.sealedItems = newValue } } }
    /// Everything secret the build handed out (config drive, secret vars): what the scan seeks.
    public var injectedSecrets: [InjectedSecret] { get { fields.withLock { $0.injectedSecrets } } set { fields.withLock { $0.injectedSecrets = newValue } } }
    public var secretScan: SecretScanReport? { get { fields.withLock { $0.secretScan } } set { fields.withLock { $0.secretScan = newValue } } }
    /// Where the seal found /etc/munge/munge.key's data on the disk (the one place the scan allows
    /// it); nil when the seal could not locate it.
    public var mungeKeyOnDisk: [Range<Int64>]? { get { fields.withLock { $0.mungeKeyOnDisk } } set { fields.withLock { $0.mungeKeyOnDisk = newValue } } }
    /// The build guest's /etc/machine-id, so the test can prove an instance makes its own.
    public var buildMachineID: String? { get { fields.withLock { $0.buildMachineID } } set { fields.withLock { $0.buildMachineID = newValue } } }
    public var testReport: InstanceTestReport? { get { fields.withLock { $0.testReport } } set { fields.withLock { $0.testReport = newValue } } }
    /// Why the image was not boot-tested (--no-test, no checks declared), or nil.
    public var testSkipped: String? { get { fields.withLock { $0.testSkipped } } set { fields.withLock { $0.testSkipped = newValue } } }
    public var clusterReport: ClusterTestReport? { get { fields.withLock { $0.clusterReport } } set { fields.withLock { $0.clusterReport = newValue } } }
    public var timings: [PhaseTiming] { get { fields.withLock { $0.timings } } set { fields.withLock { $0.timings = newValue } } }
    public var manifest: Manifest? { get { fields.withLock { $0.manifest } } set { fields.withLock { $0.manifest = newValue } } }
    public var verifyChecks: [ImageChecks.Check] { get { fields.withLock { $0.verifyChecks } } set { fields.withLock { $0.verifyChecks = newValue } } }
    public var state: BuildState { get { fields.withLock { $0.state } } set { fields.withLock { $0.state = newValue } } }

    public var domainName: String { "kvmbuild-\(target.name)-\(id)" }

    /// How the build logs in to its guest on `port`: the build user, the ephemeral key, the pinned host key.
    func login(port: Int) -> GuestLogin {
        GuestLogin(port: port, user: target.sshUser, privateKey: paths.buildKey, knownHosts: paths.knownHosts)
    }

    public init(target: Target, options: BuildOptions, id: String, paths: BuildPaths, console: Console = .shared,
                tools: BuildTools = .host) {
        self.target = target
        self.options = options
        self.id = id
        self.paths = paths
        self.console = console
        self.tools = tools
        self.fields = Mutex(Fields(state: BuildState(id: id, name: paths.name, target: target.name, pid: getpid(), status: .running,
                                                     started: Date(), domain: "kvmbuild-\(target.name)-\(id)", sshPort: nil,
                                                     sshUser: target.sshUser, libvirtURI: options.libvirtURI, image: nil)))
    }

    struct Cleanup: Sendable {
        let name: String
        let onlyOnFailure: Bool
        let action: @Sendable () async throws -> Void
    }

    /// Registers an undo step. `onlyOnFailure` steps (e.g. deleting a half-written export)
    /// are skipped when the build succeeds.
    public func addCleanup(_ name: String, onlyOnFailure: Bool = false, _ action: @escaping @Sendable () async throws -> Void) {
        cleanups.withLock { $0.append(Cleanup(name: name, onlyOnFailure: onlyOnFailure, action: action)) }
    }

    /// Runs and forgets every registered cleanup, newest first. A failing cleanup is reported
    /// and the rest still run.
    func runCleanups(failed: Bool) async {
        let pending: [Cleanup] = cleanups.withLock { registered in
            defer { registered.removeAll() }
            return registered.reversed()
        }
        for cleanup in pending where failed || !cleanup.onlyOnFailure {
            console.debug("cleanup: \(cleanup.name)")
            do { try await cleanup.action() } catch { console.warning("cleanup '\(cleanup.name)' failed: \(error)") }
        }
    }

    public func saveState() {
        do { try state.save(paths.state) } catch { console.warning("cannot write \(paths.state): \(error)") }
    }
}

public struct PhaseTiming: Sendable, Codable {
    public let phase: String
    public let seconds: Double
}
