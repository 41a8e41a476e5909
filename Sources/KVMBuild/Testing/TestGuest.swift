import ConfigDrive
import Foundation
import KVMBuildSupport
import Libvirt
import Synchronization

/// One throw-away guest of a test: a qcow2 overlay on an image, its seed, a libvirt domain with
/// an SSH forward on 127.0.0.1, and the wait until its user can log in with a pinned host key.
/// `tearDown` undoes all of it; callers register it as a cleanup before `boot`.
public final class TestGuest: Sendable {
    public struct Setup: Sendable {
        public var domainName: String
        public var hostname: String
        /// The image the overlay is backed by (qcow2; never written).
        public var image: String
        public var accelerator: Accelerator
        public var memoryMiB: Int
        public var vcpus: Int
        /// Holds the overlay and the seed (0700; removed by tearDown).
        public var workDirectory: String
        public var consoleLog: String
        public var user: String
        public var privateKey: String
        public var knownHosts: String
        public var metadata: GuestDomain.BuildMetadata
        public var portLocks: String
        public var cluster: GuestDomain.ClusterNIC?
    }

    /// What the guest boots with, and so how its host key is known.
    public enum Seed: Sendable {
        /// What Nova gives a new instance; the host key is read from the console, where the
        /// image's cloud-init prints it on first boot.
        case instance(InstanceSeed)
        /// A build-style seed (kvmbuild's user-data, with a host key made for it and pinned).
        case build(ConfigDriveContent, template: String)
    }

    public struct Readiness: Sendable {
        /// From the domain's start to sshd's first banner.
        public let sshdSeconds: Double
        /// From the start until cloud-init finished and the user could log in.
        public let readySeconds: Double
        public let client: SSHClient
    }

    public let setup: Setup
    private let connection: Connection
    private let reservation = Mutex<PortReservation?>(nil)
    private let booted = Mutex<Date?>(nil)
    /// The seed carried a host key, pinned at boot; else it is read from the console.
    private let pinnedAtBoot = Mutex(false)

    public init(_ setup: Setup, connection: Connection) {
        self.setup = setup
        self.connection = connection
    }

    public var port: Int? { reservation.withLock { $0?.port } }

    /// Creates the overlay and the seed and starts the domain; returns the SSH port.
    @discardableResult
    public func boot(_ seed: Seed) async throws -> Int {
        try FileManager.default.createDirectory(atPath: setup.workDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let overlay = setup.workDirectory + "/disk.qcow2"
        let seedPath = setup.workDirectory + "/seed.iso"
        // The base may be raw (a controller on the target's base image); exports are qcow2.
        let format = (try? DiskImageHeader.read(setup.image).format.rawValue) ?? "qcow2"
        // 4 KiB clusters: blocks the guest trims become whole free clusters (a controller kept in
        // the cache has dropped its keys that way).
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-F", format, "-b", setup.image, overlay]))
        let held = try PortReservation.reserve(lockDirectory: setup.portLocks)
        reservation.withLock { $0 = held }
        switch seed {
        case .instance(let instance):
            try await ConfigDriveWriter.writeInstance(instance, to: seedPath)
        case .build(let content, let template):
            try await ConfigDriveWriter.write(content, template: template, to: seedPath)
            if let key = content.hostKey {
                try SSHClient.knownHostsLine(port: held.port, publicKey: key.publicKey).write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
                pinnedAtBoot.withLock { $0 = true }
            }
        }
        let domain = GuestDomain(name: setup.domainName, accelerator: setup.accelerator, memoryMiB: setup.memoryMiB, vcpus: setup.vcpus,
                                 disk: overlay, configDrive: seedPath, consoleLog: setup.consoleLog, sshPort: held.port,
                                 metadata: setup.metadata, cluster: setup.cluster)
        do {
            _ = try connection.createTransientDomain(xml: domain.xml())
        } catch {
            throw KVMBuildError(.libvirt, "libvirt could not start the test guest \(setup.domainName)",
                                fix: "see kvmbuild check and /var/log/libvirt/qemu/\(setup.domainName).log", cause: error)
        }
        booted.withLock { $0 = Date() }
        return held.port
    }

    /// Waits for sshd, pins the host key (from the console unless the seed gave one), and waits
    /// for cloud-init to finish.
    public func waitUntilReady(timeout: TimeInterval = 15 * 60) async throws -> Readiness {
        guard let port, let booted = booted.withLock({ $0 }) else { throw KVMBuildError(.internalError, "waitUntilReady before boot") }
        let client = SSHClient(port: port, user: setup.user, privateKey: setup.privateKey, knownHosts: setup.knownHosts)
        let log = ConsoleLog(path: setup.consoleLog)
        let deadline = booted.addingTimeInterval(timeout)
        var sshdSeconds: Double?
        var pinned = pinnedAtBoot.withLock { $0 }
        var lastError = ""
        while Date() < deadline {
            try Task.checkCancellation()
            guard try connection.domain(named: setup.domainName) != nil else {
                throw KVMBuildError(.bootStalled, "the test guest \(setup.hostname) stopped before it was ready", fix: "read its console log \(setup.consoleLog)")
            }
            if sshdSeconds == nil, SSHBanner.answers(port: port) { sshdSeconds = Date().timeIntervalSince(booted) }
            if sshdSeconds != nil, !pinned, let keys = Self.hostKeys(inConsole: log.tail(400)) {
                try keys.map { SSHClient.knownHostsLine(port: port, publicKey: $0) }.joined()
                    .write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
                pinned = true
            }
            if sshdSeconds != nil, pinned {
                let status = try? await client.run(["cloud-init", "status", "--wait"], timeout: 600)
                if let status, status.exitCode == 0 || status.exitCode == 2 {
                    return Readiness(sshdSeconds: sshdSeconds ?? 0, readySeconds: Date().timeIntervalSince(booted), client: client)
                }
                lastError = status.map { ($0.stderr + $0.stdout).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "timed out"
                if let status, status.exitCode != 255 {
                    throw KVMBuildError(.testFailed, "cloud-init failed on the test guest \(setup.hostname) (status \(status.exitCode)): \(lastError)",
                                        fix: "read its console log \(setup.consoleLog); the image's own first boot is broken")
                }
            }
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        let what = sshdSeconds == nil ? "sshd never answered" : pinned ? "login as \(setup.user) failed (\(lastError))"
            : "its console never showed cloud-init's host keys"
        throw KVMBuildError(.testFailed, "the test guest \(setup.hostname) was not ready after \(Int(timeout / 60)) minutes: \(what)",
                            fix: "read its console log \(setup.consoleLog); check test.user (the image's default cloud-init user)")
    }

    /// Destroys the domain and removes the overlay and the seed; the console log stays.
    public func tearDown() {
        if let domain = try? connection.domain(named: setup.domainName) { try? domain.destroy() }
        try? FileManager.default.removeItem(atPath: setup.workDirectory)
        reservation.withLock { $0?.release(); $0 = nil }
    }

    /// The public host keys cloud-init printed between its BEGIN/END SSH HOST KEY KEYS markers.
    static func hostKeys(inConsole text: String) -> [String]? {
        guard let begin = text.range(of: "-----BEGIN SSH HOST KEY KEYS-----", options: .backwards),
              let end = text.range(of: "-----END SSH HOST KEY KEYS-----", range: begin.upperBound..<text.endIndex) else { return nil }
        let keys = text[begin.upperBound..<end.lowerBound].split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard let type = fields.firstIndex(where: { $0.hasPrefix("ssh-") || $0.hasPrefix("ecdsa-") }), type + 1 < fields.count else { return nil }
            return "\(fields[type]) \(fields[type + 1])"
        }
        return keys.isEmpty ? nil : keys
    }
}
