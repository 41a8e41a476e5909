import ConfigDrive
import Guestfs
import KVMBuildSupport

/// What a finished image must show on disk: the playbook's units enabled, its files with the
/// right owner and mode, and nothing the build owned (user, keys, cloud-init state, host keys,
/// machine-id). Runs on an already-mounted disk, so the seal can prove its own work in its
/// appliance and `kvmbuild verify` can prove any exported file.
public struct ImageChecks: Sendable {
    public struct Check: Sendable, Codable {
        public let name: String
        public let passed: Bool
        public let detail: String
    }

    public let expectations: Target.Verification
    public let buildUser: String
    public let buildHostname: String

    public init(expectations: Target.Verification, buildUser: String, buildHostname: String) {
        self.expectations = expectations
        self.buildUser = buildUser
        self.buildHostname = buildHostname
    }

    /// The build guest's hostname, which the seal takes out of /etc/hostname and /etc/hosts.
    public static func buildHostname(target: String) -> String { "kvmbuild-\(target)" }

    func run(on g: Handle) throws -> [Check] {
        var checks: [Check] = []
        func check(_ name: String, _ passed: Bool, _ detail: String) { checks.append(Check(name: name, passed: passed, detail: detail)) }

        for unit in expectations.enabledUnits {
            let file = unit.contains(".") ? unit : unit + ".service"
            let links = try g.glob("/etc/systemd/system/*.wants/\(file)")
            check("enabled \(file)", !links.isEmpty, links.isEmpty ? "no wants symlink for \(file)" : links.joined(separator: ", "))
        }
        for path in expectations.absent {
            let present = try g.exists(path)
            check("absent \(path)", !present, present ? "\(path) exists" : "absent")
        }
        let users = try parsePasswd(g.exists("/etc/passwd") ? g.cat("/etc/passwd") : "")
        for file in expectations.files {
            guard try g.exists(file.path) else {
                check("file \(file.path)", false, "missing")
                continue
            }
            let st = try g.lstat(file.path)
            var problems: [String] = []
            if let owner = file.owner, users[st.uid] != owner { problems.append("owner \(users[st.uid] ?? String(st.uid)), want \(owner)") }
            if let mode = file.mode, Int64(mode, radix: 8) != st.permissions {
                problems.append("mode \(String(st.permissions, radix: 8)), want \(mode)")
            }
            check("file \(file.path)", problems.isEmpty, problems.isEmpty ? "owner and mode as expected, \(st.size) bytes" : problems.joined(separator: "; "))
        }

        // Nothing the build owned may remain: each seal operation's paths are gone, and the
        // build user, logs, machine-id and hostname are reset. One script lists what is left.
        let operations = SealOperation.all(buildUser: buildUser, buildHostname: buildHostname)
        let residue = try g.sh(SealOperation.residueScript(operations, buildUser: buildUser, buildHostname: buildHostname))
        var found: [String: [String]] = [:]
        for line in residue.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            if parts.count == 2 { found[parts[0], default: []].append(parts[1]) }
        }
        let names = operations.map(\.name) + ["build-user", "logfiles", "machine-id", "hostname", "net-hwaddr", "build-proxy"]
        for name in Set(names).sorted() {
            let left = found[name] ?? []
            check("sealed: \(name)", left.isEmpty, left.isEmpty ? "nothing left" : left.prefix(5).joined(separator: ", ") + (left.count > 5 ? " (+\(left.count - 5) more)" : ""))
        }
        return checks
    }

    /// uid → name from /etc/passwd.
    func parsePasswd(_ text: String) -> [Int64: String] {
        var users: [Int64: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, let uid = Int64(fields[2]) { users[uid] = String(fields[0]) }
        }
        return users
    }
}
