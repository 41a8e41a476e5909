import Ansible
import ConfigDrive
import Foundation
import KVMBuildSupport
import Libvirt

/// One check on the booted instance, as the manifest and `kvmbuild test --json` record it.
public struct InstanceCheck: Sendable, Codable, Equatable {
    public let name: String
    public let passed: Bool
    public let detail: String
}

/// What the test phase (or `kvmbuild test`) found.
public struct InstanceTestReport: Sendable, Codable, Equatable {
    public let checks: [InstanceCheck]
    /// From the domain's start to sshd's first banner: what an autoscaler waits for.
    public let firstBootToSshSeconds: Double
    /// From the start until cloud-init finished and the image's default user could log in.
    public let readySeconds: Double
    public let seconds: Double
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var failed: [InstanceCheck] { checks.filter { !$0.passed } }
}

/// Boots an exported image as a new instance, the way Nova would: a throw-away overlay, an
/// OpenStack config drive with a new instance-id and hostname and one SSH key in its metadata,
/// no user-data (so no build user, no munge key from the seed, none of the build's files). The
/// host key is pinned from the instance's own console, where cloud-init prints it on first boot
/// (as `openstack console log show` would show it). Then the target's checks run over SSH.
///
/// Everything it creates is undone by `tearDown`, which callers register as a cleanup the
/// moment the instance exists.
public final class InstanceTest: Sendable {
    public struct Setup: Sendable {
        public var image: String
        public var spec: TestSpec
        public var accelerator: Accelerator
        public var memoryMiB: Int
        public var vcpus: Int
        /// A private folder for the overlay and the seed (0700; removed by tearDown).
        public var workDirectory: String
        public var consoleLog: String
        /// The one key the instance gets, and where its pinned host key goes.
        public var privateKey: String
        public var publicKey: String
        public var knownHosts: String
        public var domainName: String
        public var metadata: GuestDomain.BuildMetadata
        public var portLocks: String
        /// What the build guest had, so the checks can prove the instance made its own.
        public var buildHostPublicKey: String?
        public var buildMachineID: String?
        public var buildUser: String?
        public var ansibleLog: String
    }

    public let setup: Setup
    private let guest: TestGuest

    public init(_ setup: Setup, connection: Connection) {
        self.setup = setup
        let hostname = "kvmbuild-test-\(setup.metadata.id)"
        guest = TestGuest(.init(
            domainName: setup.domainName, hostname: hostname, image: setup.image, accelerator: setup.accelerator, memoryMiB: setup.memoryMiB,
            vcpus: setup.vcpus, workDirectory: setup.workDirectory, consoleLog: setup.consoleLog, user: setup.spec.user,
            privateKey: setup.privateKey, knownHosts: setup.knownHosts, metadata: setup.metadata, portLocks: setup.portLocks), connection: connection)
    }

    /// An instance for `kvmbuild test`: everything in `workDirectory` (0700), a key made there.
    public static func standalone(image: String, target: Target, accelerator: Accelerator, workDirectory work: String, id: String,
                                  cacheDirectory: String, connection: Connection) async throws -> InstanceTest {
        let key = try await SSHKeyPair.generate(in: work)
        let setup = Setup(
            image: image, spec: target.test, accelerator: accelerator, memoryMiB: target.test.memoryMiB ?? target.memoryMiB, vcpus: target.vcpus,
            workDirectory: work + "/instance", consoleLog: work + "/console.log", privateKey: key.privateKeyPath, publicKey: key.publicKey,
            knownHosts: work + "/known_hosts", domainName: "kvmbuild-\(target.name)-\(id)-test",
            metadata: .init(id: id, target: target.name, pid: getpid(), folder: work), portLocks: cacheDirectory + "/ports",
            buildHostPublicKey: nil, buildMachineID: nil, buildUser: target.sshUser, ansibleLog: work + "/test-ansible.log")
        return InstanceTest(setup, connection: connection)
    }

    public var port: Int? { guest.port }
    public var hostname: String { guest.setup.hostname }

    /// Boots, waits, checks; `started` learns the instance's SSH port as soon as it has one.
    /// Throws only when the instance could not be tested at all; failed checks are in the report.
    public func run(console: Console, started: @Sendable (Int) -> Void = { _ in }) async throws -> InstanceTestReport {
        let start = Date()
        let port = try await guest.boot(.instance(InstanceSeed(
            instanceID: "kvmbuild-test-\(setup.metadata.id)-\(Int(Date().timeIntervalSince1970))", hostname: hostname,
            publicKeys: ["kvmbuild-test": setup.publicKey])))
        started(port)
        console.info("test instance \(setup.domainName) started from the export; ssh on 127.0.0.1:\(port) as \(setup.spec.user)")
        let ready = try await guest.waitUntilReady()
        console.info(String(format: "test instance ready: sshd after %.0f s, cloud-init done after %.0f s", ready.sshdSeconds, ready.readySeconds))
        let checks = try await runChecks(ready.client, port: port)
        return InstanceTestReport(checks: checks, firstBootToSshSeconds: ready.sshdSeconds, readySeconds: ready.readySeconds,
                                  seconds: Date().timeIntervalSince(start))
    }

    /// Destroys the instance and removes its overlay and seed; the console log stays.
    public func tearDown() { guest.tearDown() }

    // MARK: - Checks

    private func runChecks(_ client: SSHClient, port: Int) async throws -> [InstanceCheck] {
        var checks: [InstanceCheck] = []
        func sudo(_ command: String) async throws -> ProcessResult {
            try await client.run(["sudo", "sh", "-c", SSHClient.shellQuote(command)], timeout: 300)
        }
        func out(_ result: ProcessResult) -> String { (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines) }
        func add(_ name: String, _ passed: Bool, _ detail: String) { checks.append(InstanceCheck(name: name, passed: passed, detail: detail)) }

        // What every instance must show: it is new, and nothing of the build logs in.
        let machineID = out(try await sudo("cat /etc/machine-id"))
        let newID = machineID.count == 32 && machineID.allSatisfy(\.isHexDigit) && machineID != setup.buildMachineID
        add("machine-id new", newID, newID ? machineID : "'\(machineID)' (the build's was \(setup.buildMachineID ?? "unknown"))")
        let hostKeys = out(try await sudo("cat /etc/ssh/ssh_host_*_key.pub"))
        let buildKey = setup.buildHostPublicKey.map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
        let newKeys = !hostKeys.isEmpty && !(buildKey.map { hostKeys.contains($0) } ?? false)
        add("host keys new", newKeys, newKeys ? "\(hostKeys.split(separator: "\n").count) key(s), none the build's" : "the build guest's host key is back")
        let name = out(try await sudo("hostname"))
        add("hostname from metadata", name == hostname, name)
        if let user = setup.buildUser {
            let gone = try await sudo("id \(user)").exitCode != 0
            add("no build user", gone, gone ? "\(user) does not exist" : "\(user) exists")
        }
        for unit in setup.spec.active {
            let state = out(try await sudo("systemctl is-active \(unit) || true"))
            add("active \(unit)", state == "active", state)
        }
        for unit in setup.spec.enabled {
            let state = out(try await sudo("systemctl is-enabled \(unit) || true"))
            add("enabled \(unit)", state == "enabled", state)
        }
        for unit in setup.spec.inactive {
            let state = out(try await sudo("systemctl is-active \(unit) || true"))
            add("inactive \(unit)", state != "active", state)
        }
        for file in setup.spec.files {
            let result = try await sudo("stat -c '%U %a' \(SSHClient.shellQuote(file.path))")
            guard result.exitCode == 0 else { add("file \(file.path)", false, "missing"); continue }
            let parts = out(result).split(separator: " ").map(String.init)
            var problems: [String] = []
            if let owner = file.owner, parts.first != owner { problems.append("owner \(parts.first ?? "?"), want \(owner)") }
            if let mode = file.mode, Int(parts.last ?? "", radix: 8) != Int(mode, radix: 8) { problems.append("mode \(parts.last ?? "?"), want \(mode)") }
            add("file \(file.path)", problems.isEmpty, problems.isEmpty ? out(result) : problems.joined(separator: "; "))
        }
        for command in setup.spec.commands {
            let result = try await sudo(command.run)
            var problems: [String] = []
            if result.exitCode != command.exitCode { problems.append("exit \(result.exitCode), want \(command.exitCode)") }
            if let want = command.outputContains, !out(result).contains(want) { problems.append("output lacks '\(want)'") }
            let tail = out(result).split(separator: "\n").suffix(3).joined(separator: " | ")
            add("command \(command.run)", problems.isEmpty, problems.isEmpty ? (tail.isEmpty ? "exit \(result.exitCode)" : tail) : problems.joined(separator: "; ") + (tail.isEmpty ? "" : ": \(tail)"))
        }
        if let playbook = setup.spec.playbook {
            add("test play \(URL(fileURLWithPath: playbook).lastPathComponent)", try await runTestPlay(playbook, port: port), "log: \(setup.ansibleLog)")
        }
        return checks
    }

    /// The target's test play, with the instance in group `test`.
    private func runTestPlay(_ playbook: String, port: Int) async throws -> Bool {
        let inventoryPath = setup.workDirectory + "/inventory.ini"
        let inventory = Inventory(hostName: hostname, port: port, user: setup.spec.user, privateKeyPath: setup.privateKey,
                                  knownHostsPath: setup.knownHosts, controlPath: nil, parentGroups: ["test"], buildGroup: nil)
        try inventory.render().write(toFile: inventoryPath, atomically: true, encoding: .utf8)
        let play = PlaybookRun(playbook: playbook, inventories: [inventoryPath], limit: nil, logPath: setup.ansibleLog)
        return try await play.run(colour: false) { _ in } == 0
    }
}
