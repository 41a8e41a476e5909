import Foundation
import KVMBuildSupport
import Libvirt

/// The state one build shares between its phases, and the stack of cleanups they registered.
/// Phases run one at a time; the lock only guards against the signal path reading state.
public final class BuildContext: @unchecked Sendable {
    public let target: Target
    public let options: BuildOptions
    public let id: String
    public let paths: BuildPaths
    public let console: Console
    public let started = Date()

    private let lock = NSLock()
    private var cleanups: [Cleanup] = []

    // Filled in by the phases, in order.
    /// InputsFingerprint, taken before the first phase (edits made during the build do not count).
    public var inputsSha256: String?
    public var report: HostReport?
    public var accelerator: Accelerator = .tcg
    public var base: CachedImage?
    public var portReservation: PortReservation?
    /// The forwarded SSH port on 127.0.0.1, once the guest has one.
    public var sshPort: Int? { portReservation?.port }
    public var connection: Connection?
    public var hostPublicKey: String?
    public var playSeconds: Double?
    public var sealedItems: [String] = []
    public var export: ExportedImage?
    /// Everything secret the build handed out (config drive, secret vars): what the scan seeks.
    public var injectedSecrets: [InjectedSecret] = []
    public var secretScan: SecretScanReport?
    /// Where the seal found /etc/munge/munge.key's data on the disk (the one place the scan allows it).
    public var mungeKeyOnDisk: [Range<Int64>]?
    /// The build guest's /etc/machine-id, so the test can prove an instance makes its own.
    public var buildMachineID: String?
    public var testReport: InstanceTestReport?
    /// Why the image was not boot-tested (--no-test, no checks declared), or nil.
    public var testSkipped: String?
    public var clusterReport: ClusterTestReport?
    public var timings: [PhaseTiming] = []
    public var manifest: Manifest?
    public var verifyChecks: [ImageChecks.Check] = []
    public var state: BuildState

    public var domainName: String { "kvmbuild-\(target.name)-\(id)" }

    public init(target: Target, options: BuildOptions, id: String, paths: BuildPaths, console: Console = .shared) {
        self.target = target
        self.options = options
        self.id = id
        self.paths = paths
        self.console = console
        self.state = BuildState(id: id, name: paths.name, target: target.name, pid: getpid(), status: .running, started: Date(),
                                domain: "kvmbuild-\(target.name)-\(id)", sshPort: nil, sshUser: target.sshUser,
                                libvirtURI: options.libvirtURI, image: nil)
    }

    struct Cleanup {
        let name: String
        let onlyOnFailure: Bool
        let action: @Sendable () async throws -> Void
    }

    /// Registers an undo step. `onlyOnFailure` steps (e.g. deleting a half-written export)
    /// are skipped when the build succeeds.
    public func addCleanup(_ name: String, onlyOnFailure: Bool = false, _ action: @escaping @Sendable () async throws -> Void) {
        lock.withLock { cleanups.append(Cleanup(name: name, onlyOnFailure: onlyOnFailure, action: action)) }
    }

    /// Runs and forgets every registered cleanup, newest first. A failing cleanup is reported
    /// and the rest still run.
    func runCleanups(failed: Bool) async {
        let pending: [Cleanup] = lock.withLock {
            defer { cleanups.removeAll() }
            return cleanups.reversed()
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
