import ConfigDrive
import Foundation
import Guestfs
import KVMBuildSupport

/// Generalises a stopped guest's disk so every instance booted from it is new: no host keys,
/// no build user or keys, no cloud-init state (it cached the munge key and host key), an empty
/// machine-id, no logs, history or package caches. The munge key in /etc/munge stays: it is
/// what lets the image join the cluster. Ends with sync + fstrim so the export shrinks.
public struct ImageSealer: Sendable {
    public let disk: String
    public let buildUser: String
    public let forceTCG: Bool

    public init(disk: String, buildUser: String, forceTCG: Bool) {
        self.disk = disk
        self.buildUser = buildUser
        self.forceTCG = forceTCG
    }

    /// Paths (globs allowed) removed outright.
    var removals: [String] {
        [
            "/etc/ssh/ssh_host_*", "/root/.ssh/authorized_keys", "/var/lib/dbus/machine-id",
            "/etc/sudoers.d/90-cloud-init-users", "/root/.bash_history", "/home/*/.bash_history", "/var/lib/dhcp/*.leases", "/var/lib/dhclient/*.leases",
            "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb",
        ]
    }

    var treeRemovals: [String] {
        ["/var/lib/cloud", "/var/cache/dnf", "/tmp/*", "/var/tmp/*", "/var/log/journal/*"] + ConfigDriveContent.buildTimePaths
    }

    /// Done with the guest's own tools, chrooted by libguestfs.
    var script: String {
        """
        set -e
        if grep -q '^\(buildUser):' /etc/passwd; then userdel -r -f \(buildUser) >/dev/null 2>&1 || userdel -f \(buildUser); fi
        rm -rf /home/\(buildUser)
        if [ -d /var/lib/apt/lists ]; then find /var/lib/apt/lists -maxdepth 1 -type f -delete; fi
        find /var/log -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -delete
        find /var/log -type f -exec truncate -s 0 {} +
        """
    }

    /// Seals the disk, then checks it read-only in the same appliance, as it will be exported:
    /// one libguestfs launch where two cost 30-60 s more under TCG. Returns what was removed
    /// (for the manifest) and the checks' results.
    public func sealAndCheck(_ imageChecks: ImageChecks) async throws -> (removed: [String], checks: [ImageChecks.Check]) {
        try await runBlocking { [self] in
            let g = try Handle(forceTCG: forceTCG)
            try g.addDrive(disk, format: "qcow2", readOnly: false, discard: true)
            try g.launch()
            try g.mountOperatingSystem(readOnly: false)
            let removed = try seal(g)
            // ext4 cannot discard blocks still in the journal: commit first, then trim.
            try g.sync()
            try g.fstrim("/")
            try g.remountReadOnly()
            let checks = try imageChecks.run(on: g)
            try g.unmountAll()
            try g.shutdown()
            return (removed, checks)
        }
    }

    func seal(_ g: Handle) throws -> [String] {
        var removed: [String] = []
        for pattern in removals {
            for path in try g.glob(pattern) {
                try g.removeFile(path)
                removed.append(path)
            }
        }
        for pattern in treeRemovals {
            for path in try g.glob(pattern) {
                try g.removeTree(path)
                removed.append(path)
            }
        }
        try g.sh(script)
        removed += ["user \(buildUser)", "/var/lib/apt/lists/*", "/var/log/* (truncated)"]
        if try g.exists("/etc/machine-id") {
            try g.truncate("/etc/machine-id")
            removed.append("/etc/machine-id (emptied)")
        }
        return removed
    }
}
