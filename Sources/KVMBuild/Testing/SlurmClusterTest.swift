import Ansible
import ConfigDrive
import Foundation
import KVMBuildSupport
import Libvirt
import Synchronization

/// What the cluster test found; the manifest's `test_cluster` and `kvmbuild test --cluster --json`.
public struct ClusterTestReport: Sendable, Codable, Equatable {
    public let nodes: [String]
    public let checks: [InstanceCheck]
    /// The controller booted from the base image and provisioned by the `control` play.
    public let controllerSeconds: Double
    /// From the nodes' start until every one was ready (SSH and cloud-init done).
    public let nodesReadySeconds: Double
    /// From the nodes' start until `sinfo` showed every one idle; nil if they never were.
    public let idleSeconds: Double?
    /// The controller came from the controller cache (provisioned by an earlier cluster test).
    public let controllerFromCache: Bool
    public let seconds: Double
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var failed: [InstanceCheck] { checks.filter { !$0.passed } }
}

/// Proves that instances of the image join a real Slurm cluster: a controller booted from the
/// target's base image and provisioned by the target's playbook (its `control` play: slurmctld
/// serving slurm.conf configless, munge with the cluster's key, the NFS server), and N instances
/// of the export booted as Nova would boot them, all on a guest-only vde segment. Then: munge
/// credentials decode across nodes and on the controller, every node is idle in sinfo, a job
/// runs on all nodes, and every NFS entry of the image's fstab is mounted from the controller.
///
/// Everything it creates (guests, overlays, seeds, switch, keys) is undone by `tearDown`, which
/// callers register as a cleanup before `run`.
public final class SlurmClusterTest: Sendable {
    public struct Setup: Sendable {
        public var image: String
        /// What the controller boots from: the target's base image, as a site's control node would.
        public var controllerImage: String
        /// Provisioned controllers of earlier tests, and this one's key there.
        public var controllerCache: ControllerCache
        public var controllerCacheKey: String
        public var spec: SlurmClusterSpec
        /// The image's default user on the nodes (test.user).
        public var nodeUser: String
        public var playbook: String
        /// The key the controller's munge gets: the cluster's (the build's) unless a test asks
        /// for another to prove that a mismatch is caught.
        public var controllerMungeKey: Data
        public var cloudInitTemplate: String
        public var accelerator: Accelerator
        /// Private (0700): overlays, seeds, switch, keys, logs; removed by tearDown except logs.
        public var workDirectory: String
        public var privateKey: String
        public var publicKey: String
        public var domainPrefix: String
        public var hostnamePrefix: String
        public var metadata: GuestDomain.BuildMetadata
        public var portLocks: String
        /// The package cache the controller's play installs through, as guests reach it (nil: the mirrors).
        public var packageProxy: String?
    }

    /// Addresses that exist only inside the guests, on the vde segment.
    static let networkPrefix = "10.42.0."
    static let network = "10.42.0.0/24"
    static let controllerAddress = networkPrefix + "1"
    static let controllerUser = "kvmbuild"

    public let setup: Setup
    private let connection: Connection
    private let segment = Mutex<VDESwitch?>(nil)
    private let guests = Mutex<[TestGuest]>([])
    /// The controller's seed host key, which a cached controller must not keep.
    private let controllerHostKey = Mutex<String?>(nil)

    public init(_ setup: Setup, connection: Connection) {
        self.setup = setup
        self.connection = connection
    }

    /// The cluster test of `target` on `image`: the controller boots from the target's base image
    /// (verified in the cache, fetched if it is not there) with the given munge key, the target's
    /// own one unless a caller wants to prove that a mismatch fails.
    public static func make(image: String, target: Target, accelerator: Accelerator, workDirectory: String, key: (privatePath: String, publicKey: String),
                            controllerMungeKey: String? = nil, metadata: GuestDomain.BuildMetadata, domainPrefix: String,
                            cacheDirectory: String, projectDirectory: String, baseImage: CachedImage? = nil, packageProxy: String? = nil,
                            console: Console, connection: Connection) async throws -> SlurmClusterTest {
        guard let spec = target.test.slurmCluster else {
            throw KVMBuildError(.invalidInput, "target \(target.name) declares no test.slurm_cluster", fix: "add test: slurm_cluster: {nodes: 2} to the target in kvmbuild.yml")
        }
        guard let keyPath = controllerMungeKey ?? target.mungeKey, let munge = FileManager.default.contents(atPath: keyPath), (32...1024).contains(munge.count) else {
            throw KVMBuildError(.invalidInput, "the cluster test's controller needs a munge key of 32-1024 bytes (\(controllerMungeKey ?? target.mungeKey ?? "none given"))",
                                fix: "set munge_key for the target or pass --controller-munge-key PATH")
        }
        let base: CachedImage
        if let baseImage { base = baseImage } else {
            base = try await ImageCache(cacheDirectory: cacheDirectory).fetch(source: target.baseImage.source, checksum: target.baseImage.checksum, console: console)
        }
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let template = try UserDataTemplate.load(explicit: target.cloudInit, projectDirectory: projectDirectory)
        let cacheKey = try ControllerCache.key(baseSha256: base.sha256, playbook: target.playbook, template: template, controllerNames: spec.controllerNames)
        return SlurmClusterTest(.init(
            image: image, controllerImage: base.path, controllerCache: ControllerCache(cacheDirectory: cacheDirectory), controllerCacheKey: cacheKey,
            spec: spec, nodeUser: target.test.user, playbook: target.playbook, controllerMungeKey: munge, cloudInitTemplate: template, accelerator: accelerator,
            workDirectory: workDirectory, privateKey: key.privatePath, publicKey: key.publicKey, domainPrefix: domainPrefix,
            hostnamePrefix: target.name, metadata: metadata, portLocks: cacheDirectory + "/ports", packageProxy: packageProxy), connection: connection)
    }

    public var nodeNames: [String] { (1...max(setup.spec.nodes, 1)).map { "\(setup.hostnamePrefix)-node\($0)" } }
    var logsDirectory: String { setup.workDirectory + "/logs" }
    public var ansibleLog: String { logsDirectory + "/control-ansible.log" }

    public static func isHostname(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 63 && !name.hasPrefix("-") && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
    }

    /// The /etc/hosts every member gets: the controller under all its names, then the nodes.
    var etcHosts: String {
        var lines = ["127.0.0.1 localhost", "\(Self.controllerAddress) \(setup.spec.controllerNames.joined(separator: " "))"]
        for (index, name) in nodeNames.enumerated() { lines.append("\(nodeAddress(index)) \(name)") }
        return lines.joined(separator: "\n") + "\n"
    }

    func nodeAddress(_ index: Int) -> String { Self.networkPrefix + String(11 + index) }
    /// Locally administered MACs, unique per guest: 52:54:00:4b:<nic: 0 user, 1 cluster>:<member: 0 controller>.
    static func mac(_ net: Int, _ member: Int) -> String { String(format: "52:54:00:4b:%02x:%02x", net, member) }

    /// The controller, once `prepareController` has brought it up.
    struct Controller: Sendable {
        let guest: TestGuest
        let client: SSHClient
        let switchSocket: String
        let fromCache: Bool
        let seconds: Double
    }
    private let controller = Mutex<Controller?>(nil)

    /// Brings up the segment and the controller (booted and provisioned): the part that needs
    /// nothing of the image, so a build starts it while its single-instance test still runs.
    public func prepareController(console: Console) async throws {
        if controller.withLock({ $0 }) != nil { return }
        let start = Date()
        try FileManager.default.createDirectory(atPath: logsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let switchHolder = try await VDESwitch.start(in: setup.workDirectory + "/segment")
        segment.withLock { $0 = switchHolder }
        console.info("cluster test: guest-only segment \(Self.network) on vde switch \(switchHolder.socket)")
        let cached = setup.controllerCache.lookup(setup.controllerCacheKey)
        let (guest, client) = try await bootController(image: cached ?? setup.controllerImage, switchSocket: switchHolder.socket, console: console)
        let seconds = Date().timeIntervalSince(start)
        console.info(String(format: "cluster test: controller %@ %@ after %.0f s", setup.spec.controllerNames[0],
                            cached == nil ? "provisioned" : "(from the controller cache) up", seconds))
        controller.withLock { $0 = Controller(guest: guest, client: client, switchSocket: switchHolder.socket, fromCache: cached != nil, seconds: seconds) }
    }

    public func run(console: Console) async throws -> ClusterTestReport {
        try await prepareController(console: console)
        guard let control = controller.withLock({ $0 }) else { throw KVMBuildError(.internalError, "the cluster test has no controller") }

        console.info("cluster test: booting \(nodeNames.count) node(s) from the image")
        let nodesStart = Date()
        let nodes = try await bootNodes(switchSocket: control.switchSocket)
        let nodesReady = Date().timeIntervalSince(nodesStart)
        console.info(String(format: "cluster test: %d node(s) ready after %.0f s", nodes.count, nodesReady))

        let checks = ClusterChecks(controller: control.client, nodes: Array(zip(nodeNames, nodes)), controllerNames: setup.spec.controllerNames,
                                   markerID: setup.metadata.id)
        let (results, idle) = try await checks.run(since: nodesStart)
        let report = ClusterTestReport(nodes: nodeNames, checks: results, controllerSeconds: control.seconds, nodesReadySeconds: nodesReady,
                                       idleSeconds: idle, controllerFromCache: control.fromCache, seconds: control.seconds + Date().timeIntervalSince(nodesStart))
        // A controller that ran a passing cluster is worth keeping; a failed one stays up for --on-error=abort.
        if !control.fromCache, report.passed { await keepController(control.guest, client: control.client, console: console) }
        return report
    }

    /// Scrubs and powers off the controller and stores its disk in the controller cache. A
    /// failure here costs the next test its head start, nothing else: it is only reported.
    private func keepController(_ guest: TestGuest, client: SSHClient, console: Console) async {
        let started = Date()
        do {
            _ = try? await ClusterChecks.sudo(client, ControllerCache.scrubScript, timeout: 120)
            let deadline = Date().addingTimeInterval(180)
            while try connection.domain(named: guest.setup.domainName) != nil {
                guard Date() < deadline else { return console.warning("cluster test: the controller did not power off; not cached") }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
            var secrets = InjectedSecret.mungeKey(setup.controllerMungeKey, carriedByImage: false)
            if let hostKey = controllerHostKey.withLock({ $0 }) { secrets.append(.privateKey(hostKey, name: "the controller's SSH host private key")) }
            if let why = try await setup.controllerCache.store(overlay: guest.setup.workDirectory + "/disk.qcow2", key: setup.controllerCacheKey,
                                                               secrets: secrets, scratch: setup.workDirectory) {
                return console.warning("cluster test: controller not cached: \(why)")
            }
            console.info(String(format: "cluster test: controller cached for the next cluster test (%.0f s)", Date().timeIntervalSince(started)))
        } catch {
            console.warning("cluster test: controller not cached: \(error)")
        }
    }

    /// Destroys every guest, stops the switch, and removes everything but the logs.
    public func tearDown() {
        for guest in guests.withLock({ $0 }) { guest.tearDown() }
        segment.withLock { $0?.stop(); $0 = nil }
        let fm = FileManager.default
        for entry in (try? fm.contentsOfDirectory(atPath: setup.workDirectory)) ?? [] where entry != "logs" {
            try? fm.removeItem(atPath: setup.workDirectory + "/" + entry)
        }
    }

    // MARK: - Members

    private func guest(_ role: String, hostname: String, image: String, memoryMiB: Int, user: String, member: Int, switchSocket: String) -> TestGuest {
        let guest = TestGuest(.init(
            domainName: "\(setup.domainPrefix)-\(role)", hostname: hostname, image: image, accelerator: setup.accelerator, memoryMiB: memoryMiB,
            vcpus: 1, workDirectory: setup.workDirectory + "/\(role)", consoleLog: logsDirectory + "/\(role)-console.log", user: user,
            privateKey: setup.privateKey, knownHosts: setup.workDirectory + "/known_hosts-\(role)", metadata: setup.metadata,
            portLocks: setup.portLocks,
            cluster: .init(switchSocket: switchSocket, userMAC: Self.mac(0, member), clusterMAC: Self.mac(1, member))), connection: connection)
        guests.withLock { $0.append(guest) }
        return guest
    }

    private func network(member: Int, address: String) -> GuestNetwork {
        GuestNetwork(userMAC: Self.mac(0, member), clusterMAC: Self.mac(1, member), address: address, prefixLength: 24)
    }

    /// Boots the controller (from the base image, or a cached one) with a build-style seed (its own key, a pinned host key, the munge
    /// key) and runs the playbook's `control` play on it.
    private func bootController(image: String, switchSocket: String, console: Console) async throws -> (TestGuest, SSHClient) {
        let name = setup.spec.controllerNames[0]
        let controller = guest("control", hostname: name, image: image, memoryMiB: setup.spec.controllerMemoryMiB,
                               user: Self.controllerUser, member: 0, switchSocket: switchSocket)
        let keyPath = setup.workDirectory + "/control-host-key"
        let hostKey = try await SSHKeys.generate(at: keyPath, comment: "root@\(name)")
        let seedKey = ConfigDriveContent.HostKey(privateKey: hostKey.privateKey, publicKey: hostKey.publicKey)
        controllerHostKey.withLock { $0 = seedKey.privateKey }
        // From here the private half lives only in the seed, which tearDown removes.
        for path in [keyPath, keyPath + ".pub"] { try? FileManager.default.removeItem(atPath: path) }
        guard !seedKey.privateKey.isEmpty else { throw KVMBuildError(.io, "could not read the controller's new host key", fix: "check \(setup.workDirectory)") }
        var content = ConfigDriveContent(
            flavor: .configdrive, instanceID: "\(setup.domainPrefix)-control-\(Int(Date().timeIntervalSince1970))", hostname: name,
            user: Self.controllerUser, authorizedKeys: [setup.publicKey], hostKey: seedKey, mungeKey: setup.controllerMungeKey)
        content.network = network(member: 0, address: Self.controllerAddress)
        content.etcHosts = etcHosts
        content.packageProxy = setup.packageProxy
        try await controller.boot(.build(content, template: setup.cloudInitTemplate))
        let ready = try await controller.waitUntilReady()
        try await provisionController(port: ready.client.port, knownHosts: controller.setup.knownHosts, console: console)
        return (controller, ready.client)
    }

    private func provisionController(port: Int, knownHosts: String, console: Console) async throws {
        let inventoryPath = setup.workDirectory + "/control-inventory.ini"
        let inventory = Inventory(hostName: setup.spec.controllerNames[0], port: port, user: Self.controllerUser, privateKeyPath: setup.privateKey,
                                  knownHostsPath: knownHosts, controlPath: nil, parentGroups: ["control"], buildGroup: nil)
        try inventory.render().write(toFile: inventoryPath, atomically: true, encoding: .utf8)
        // Lists travel in a vars file (ansible's extra vars on argv would be strings).
        let vars: [String: Any] = [
            "slurm_control_cluster_name": "kvmbuild-test",
            "slurm_control_nodes": nodeNames.enumerated().map { ["name": $1, "address": nodeAddress($0), "cpus": 1] as [String: Any] },
            "nfs_server_clients": [Self.network],
        ]
        let varsPath = setup.workDirectory + "/control-vars.json"
        try SafeWrite.privateFile(varsPath, contents: try JSONSerialization.data(withJSONObject: vars, options: [.sortedKeys]))
        let play = PlaybookRun(playbook: setup.playbook, inventories: [inventoryPath], varFiles: [varsPath], limit: "control", logPath: ansibleLog)
        let code = try await play.run(colour: false) { _ in }
        guard code == 0 else {
            let tail = (try? String(contentsOfFile: ansibleLog, encoding: .utf8))?.split(separator: "\n").filter { $0.contains("FAILED") || $0.contains("fatal:") }
                .suffix(2).joined(separator: " | ") ?? ""
            throw KVMBuildError(.testFailed, "the cluster test's controller could not be provisioned (ansible-playbook exit \(code))\(tail.isEmpty ? "" : ": \(tail)")",
                                fix: "read \(ansibleLog); the playbook needs a `control` play (see ansible/site.yml)")
        }
    }

    /// Boots every node at once from the export, each with what Nova would give it: metadata with
    /// one key, its cluster address in network_data.json, and a user-data that writes /etc/hosts.
    private func bootNodes(switchSocket: String) async throws -> [SSHClient] {
        let members = nodeNames.enumerated().map { index, name in
            (name, guest("node\(index + 1)", hostname: name, image: setup.image, memoryMiB: setup.spec.memoryMiB, user: setup.nodeUser,
                         member: index + 1, switchSocket: switchSocket), index)
        }
        for (name, node, index) in members {
            try await node.boot(.instance(InstanceSeed(
                instanceID: "\(setup.domainPrefix)-node\(index + 1)-\(Int(Date().timeIntervalSince1970))", hostname: name,
                publicKeys: ["kvmbuild-test": setup.publicKey], network: network(member: index + 1, address: nodeAddress(index)), etcHosts: etcHosts)))
        }
        return try await withThrowingTaskGroup(of: (Int, SSHClient).self) { group in
            for (_, node, index) in members { group.addTask { (index, try await node.waitUntilReady().client) } }
            var clients: [Int: SSHClient] = [:]
            for try await (index, client) in group { clients[index] = client }
            return members.compactMap { clients[$0.2] }
        }
    }
}
