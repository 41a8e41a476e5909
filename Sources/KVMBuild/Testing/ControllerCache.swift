import ConfigDrive
import Foundation
import KVMBuildSupport

/// Provisioned cluster-test controllers, kept so that the next cluster test boots one instead of
/// installing slurmctld and the NFS server again (about 200 s under TCG). An entry is keyed by
/// everything that made it (base image, the playbook's tree, the cloud-init template, the
/// controller's names, kvmbuild's recipe and version) and holds no secret: before it is stored
/// the controller drops its munge key, host keys, build-time apt file and cloud-init data and
/// trims its file systems, and the stored file is scanned for the munge key and the host key;
/// an entry that still holds either is not kept.
///
/// Entries live in `<cache>/controllers/` (0700), each `<key>.qcow2` 0400, written under a
/// `.partial` name and renamed, so a killed store leaves nothing a later test would use.
public struct ControllerCache: Sendable {
    public let directory: String

    public init(cacheDirectory: String) { directory = cacheDirectory + "/controllers" }

    /// What the guest runs before it powers off to be stored: nothing of this cluster stays.
    static let scrubScript = """
        systemctl stop slurmctld munge nfs-server >/dev/null 2>&1
        rm -f /etc/munge/munge.key /etc/ssh/ssh_host_* \(ConfigDriveContent.aptBuildConfigPath)
        rm -rf /var/lib/slurm/slurmctld/* /var/log/slurm/*
        cloud-init clean --logs >/dev/null
        journalctl --rotate >/dev/null 2>&1; journalctl --vacuum-time=1s >/dev/null 2>&1
        sync; fstrim -a >/dev/null 2>&1
        systemctl poweroff
        """

    public static func key(baseSha256: String, playbook: String, template: String, controllerNames: [String]) throws -> String {
        let tree = try TreeHash.sha256(directory: URL(fileURLWithPath: playbook).deletingLastPathComponent().path)
        // kvmbuild's own recipe (its version, seal, domain and seed) and the scrub: another
        // kvmbuild never boots a controller an older one stored.
        let inputs = ["kvmbuild cluster controller 1", baseSha256, tree, Hashing.sha256(of: Data(template.utf8)), controllerNames.joined(separator: " "),
                      InputsFingerprint.recipeVersion, Hashing.sha256(of: Data(scrubScript.utf8))]
        return Hashing.sha256(of: Data(inputs.joined(separator: "\n").utf8))
    }

    public func path(for key: String) -> String { directory + "/\(key).qcow2" }

    public func lookup(_ key: String) -> String? {
        FileManager.default.isReadableFile(atPath: path(for: key)) ? path(for: key) : nil
    }

    /// Flattens the powered-off controller's overlay into the cache, if the copy holds none of
    /// `secrets`. Returns why it was not stored, or nil.
    func store(overlay: String, key: String, secrets: [InjectedSecret], scratch: String) async throws -> String? {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let partial = path(for: key) + ".partial"
        let raw = scratch + "/controller-scan.raw"
        defer {
            try? fm.removeItem(atPath: raw)
            try? fm.removeItem(atPath: partial)
        }
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-q", "-f", "qcow2", "-O", "qcow2", "-o", "cluster_size=4096", overlay, partial]))
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["convert", "-q", "-f", "qcow2", "-O", "raw", "-S", "4k", partial, raw]))
        let report = try await runBlocking { try SecretScanner.scan(file: raw, for: secrets) }
        if !report.leaks.isEmpty { return "the stored copy still held \(report.leaks.map(\.secret).joined(separator: ", "))" }
        try fm.setAttributes([.posixPermissions: 0o400], ofItemAtPath: partial)
        try fm.moveItem(atPath: partial, toPath: path(for: key))
        return nil
    }
}
