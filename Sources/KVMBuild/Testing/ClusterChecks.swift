import Foundation
import KVMBuildSupport

/// The cluster test's checks, run over SSH once the controller and every node are ready. Each
/// check has its own bound, so a broken cluster fails in minutes and says which part broke.
struct ClusterChecks: Sendable {
    struct Node: Sendable {
        let name: String
        let client: SSHClient
    }

    let controller: SSHClient
    let nodes: [Node]
    let controllerNames: [String]
    /// Names the NFS marker file, so a node proves it reads this controller's export.
    let markerID: String

    init(controller: SSHClient, nodes: [(String, SSHClient)], controllerNames: [String], markerID: String) {
        self.controller = controller
        self.nodes = nodes.map { Node(name: $0.0, client: $0.1) }
        self.controllerNames = controllerNames
        self.markerID = markerID
    }

    /// Waiting for idle nodes: generous when munge agrees (slurmd registers within seconds of
    /// its start), short when it cannot succeed, to report the states the nodes are left in.
    static let idleTimeout: TimeInterval = 240
    static let idleTimeoutAfterMungeMismatch: TimeInterval = 45

    func run(since nodesStart: Date) async throws -> (checks: [InstanceCheck], idleSeconds: Double?) {
        var checks: [InstanceCheck] = []
        func add(_ name: String, _ passed: Bool, _ detail: String) { checks.append(InstanceCheck(name: name, passed: passed, detail: detail)) }

        let mungeAgrees = try await checkMunge(add)
        let idle = try await waitForIdle(since: nodesStart, timeout: mungeAgrees ? Self.idleTimeout : Self.idleTimeoutAfterMungeMismatch)
        var idleDetail = idle.states
        if idle.seconds == nil {
            if !mungeAgrees { idleDetail += " (munge: the controller rejects the nodes' credentials)" }
            let log = Self.text(try await Self.sudo(controller, "journalctl -u slurmctld --no-pager -o cat -n 300 | grep -iE 'decode failed|invalid credential|authentication|not responding' | tail -n 1"))
            if !log.isEmpty { idleDetail += "; slurmctld: \(log.replacingOccurrences(of: "\n", with: " | "))" }
        }
        add("every node idle in sinfo", idle.seconds != nil, idleDetail)
        try await checkJob(add, nodesIdle: idle.seconds != nil)
        try await checkNFS(add)
        return (checks, idle.seconds)
    }

    // MARK: - The checks

    /// A credential made on the first node decodes on every other node and on the controller:
    /// the image carries one key, and it is the cluster's.
    private func checkMunge(_ add: (String, Bool, String) -> Void) async throws -> Bool {
        guard let first = nodes.first else { return false }
        let made = try await Self.sudo(first.client, "munge -n")
        guard made.exitCode == 0, !made.stdout.isEmpty else {
            add("munge: a credential made on \(first.name)", false, Self.text(made))
            return false
        }
        let credential = Data(made.stdout.utf8)
        for node in nodes.dropFirst() {
            let decoded = try await Self.sudo(node.client, "unmunge", stdin: credential)
            add("munge: \(first.name)'s credential decodes on \(node.name)", decoded.exitCode == 0, Self.statusLine(decoded))
        }
        let onController = try await Self.sudo(controller, "unmunge", stdin: credential)
        let agrees = onController.exitCode == 0
        add("munge: \(first.name)'s credential decodes on the controller", agrees,
            agrees ? Self.statusLine(onController) : "\(Self.statusLine(onController)): the controller's munge key is not the image's")
        return agrees
    }

    private func waitForIdle(since start: Date, timeout: TimeInterval) async throws -> (seconds: Double?, states: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var states = "no answer from sinfo"
        repeat {
            let result = try await controller.run(["sinfo", "-h", "-N", "-o", SSHClient.shellQuote("%N %T")], timeout: 30)
            if result.exitCode == 0 {
                var byNode: [String: String] = [:]
                for line in result.stdout.split(separator: "\n") {
                    let fields = line.split(separator: " ").map(String.init)
                    if fields.count == 2 { byNode[fields[0]] = fields[1] }
                }
                states = nodes.map { "\($0.name) \(byNode[$0.name] ?? "absent")" }.joined(separator: ", ")
                if nodes.allSatisfy({ byNode[$0.name] == "idle" }) { return (Date().timeIntervalSince(start), states) }
            } else {
                states = "sinfo: " + Self.text(result)
            }
            try await Task.sleep(nanoseconds: 3_000_000_000)
        } while Date() < deadline
        return (nil, states)
    }

    /// One job step on every node, its output read back: each node's hostname once.
    private func checkJob(_ add: (String, Bool, String) -> Void, nodesIdle: Bool) async throws {
        let name = "a job runs on every node (srun -N\(nodes.count) hostname)"
        guard nodesIdle else { return add(name, false, "not run: the nodes are not idle") }
        let result = try await Self.sudo(controller, "timeout 150 srun -N\(nodes.count) -t 2 hostname", timeout: 180)
        let seen = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.sorted()
        let passed = result.exitCode == 0 && seen == nodes.map(\.name).sorted()
        add(name, passed, passed ? seen.joined(separator: ", ") : "exit \(result.exitCode): \(Self.text(result))")
    }

    /// Every NFS entry of the image's fstab is mounted at boot from the controller's export: the
    /// node reads a file the controller just wrote there.
    private func checkNFS(_ add: (String, Bool, String) -> Void) async throws {
        let marker = ".kvmbuild-cluster-test-\(markerID)"
        var written: Set<String> = []
        for node in nodes {
            let fstab = try await Self.sudo(node.client, "awk '$1 !~ /^#/ && $3 ~ /^nfs4?$/ {print $1, $2}' /etc/fstab")
            let entries = fstab.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 2 }
            if entries.isEmpty { add("NFS mounts on \(node.name)", false, "the image's fstab has no NFS entry"); continue }
            for entry in entries {
                let (source, mountpoint) = (entry[0], entry[1])
                let exported = String(source.drop { $0 != ":" }.dropFirst())
                if !written.contains(exported) {
                    _ = try await Self.sudo(controller, "echo \(markerID) > \(SSHClient.shellQuote(exported + "/" + marker))")
                    written.insert(exported)
                }
                let mounted = Self.text(try await Self.sudo(node.client, "findmnt -n -o SOURCE -M \(SSHClient.shellQuote(mountpoint)) || true"))
                let read = Self.text(try await Self.sudo(node.client, "cat \(SSHClient.shellQuote(mountpoint + "/" + marker)) 2>&1 || true"))
                let passed = mounted == source && read == markerID
                add("NFS \(mountpoint) mounted on \(node.name) at boot", passed,
                    passed ? "\(source), the controller's file read back"
                        : mounted.isEmpty ? "not mounted (fstab: \(source))" : "mounted from \(mounted); marker: \(read)")
            }
        }
    }

    // MARK: - Helpers

    static func sudo(_ client: SSHClient, _ command: String, stdin: Data? = nil, timeout: TimeInterval = 60) async throws -> ProcessResult {
        try await client.run(["sudo", "sh", "-c", SSHClient.shellQuote(command)], stdin: stdin, timeout: timeout)
    }

    static func text(_ result: ProcessResult) -> String {
        (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// unmunge's STATUS line, or its error.
    static func statusLine(_ result: ProcessResult) -> String {
        let out = text(result)
        return out.split(separator: "\n").first { $0.hasPrefix("STATUS:") }.map { $0.split(separator: " ").joined(separator: " ") } ?? out
    }
}
