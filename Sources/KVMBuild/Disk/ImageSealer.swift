import ConfigDrive
import Foundation
import Guestfs
import KVMBuildSupport

/// Generalises a stopped guest's disk so every instance booted from it is new, and so that it
/// holds nothing of the build: `SealOperation`'s list (virt-sysprep's default operations that
/// apply to a Linux guest, plus the build's own traces), then every filesystem's free space
/// trimmed. The overlay has 4 KiB clusters (BaseImagePhase), so each trimmed block reads as
/// zeros and the export copies no deleted file's bytes; the secret scan proves it afterwards.
/// The munge key in /etc/munge stays: it is what lets the image join the cluster.
public struct ImageSealer: Sendable {
    public let disk: String
    public let buildUser: String
    public let buildHostname: String
    public let forceTCG: Bool

    public init(disk: String, buildUser: String, buildHostname: String, forceTCG: Bool) {
        self.disk = disk
        self.buildUser = buildUser
        self.buildHostname = buildHostname
        self.forceTCG = forceTCG
    }

    var operations: [SealOperation] { SealOperation.all(buildUser: buildUser, buildHostname: buildHostname) }

    public struct Result: Sendable {
        /// What was removed, for the manifest.
        public let removed: [String]
        public let checks: [ImageChecks.Check]
        /// Disk byte ranges of /etc/munge/munge.key's data, where the secret scan allows the key.
        public let mungeKeyOnDisk: [Range<Int64>]?
    }

    /// Seals the disk, then checks it read-only in the same appliance, as it will be exported:
    /// one libguestfs launch where two cost 30-60 s more under TCG.
    public func sealAndCheck(_ imageChecks: ImageChecks) async throws -> Result {
        try await runBlocking { [self] in
            let g = try Handle(forceTCG: forceTCG)
            try g.addDrive(disk, format: "qcow2", readOnly: false, discard: true)
            try g.launch()
            try g.mountOperatingSystem(readOnly: false)
            let removed = try seal(g)
            // ext4 cannot discard blocks still in the journal: commit first, then trim every
            // filesystem (a separate /var or /home holds deleted files too).
            try g.sync()
            for mount in g.mounts { try g.fstrim(mount.mountpoint) }
            try g.remountReadOnly()
            let checks = try imageChecks.run(on: g)
            // Located on the read-only disk, as it will be exported (the export copies blocks
            // where they are).
            let munge = try g.exists(ConfigDriveContent.mungeKeyPath) ? FileExtents.locate(ConfigDriveContent.mungeKeyPath, on: g) : nil
            try g.unmountAll()
            try g.shutdown()
            return Result(removed: removed, checks: checks, mungeKeyOnDisk: munge)
        }
    }

    func seal(_ g: Handle) throws -> [String] {
        let output = try g.sh(SealOperation.script(operations, buildUser: buildUser, buildHostname: buildHostname))
        return output.split(separator: "\n").map(String.init)
    }
}
