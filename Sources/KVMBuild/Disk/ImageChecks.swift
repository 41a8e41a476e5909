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

    public init(expectations: Target.Verification, buildUser: String) {
        self.expectations = expectations
        self.buildUser = buildUser
    }

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

        // Nothing the build owned may remain.
        let hostKeys = try g.glob("/etc/ssh/ssh_host_*")
        check("no ssh host keys", hostKeys.isEmpty, hostKeys.isEmpty ? "none" : hostKeys.joined(separator: ", "))
        check("no build user", !users.values.contains(buildUser), users.values.contains(buildUser) ? "\(buildUser) in /etc/passwd" : "absent")
        for path in ["/home/\(buildUser)", "/var/lib/cloud", "/root/.ssh/authorized_keys", "/etc/sudoers.d/90-cloud-init-users"] + ConfigDriveContent.buildTimePaths {
            let present = try g.exists(path)
            check("no \(path)", !present, present ? "present" : "absent")
        }
        if try g.exists("/etc/machine-id") {
            let size = try g.lstat("/etc/machine-id").size
            check("empty machine-id", size == 0, size == 0 ? "empty" : "\(size) bytes")
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
