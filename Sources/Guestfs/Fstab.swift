/// What a guest's /etc/fstab says about the filesystems a seal or a check would touch.
///
/// Finding the root filesystem by probing (a few blkid calls and one mount) takes about 2 s in
/// the appliance under TCG; libguestfs's full inspection takes about 20 s. The probe is only
/// enough when everything kvmbuild reads or writes (/etc, /var, /home, /root, /tmp) lives on
/// the root filesystem; this decides that from fstab, and anything unusual falls back to
/// inspection.
public struct Fstab: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let device: String
        public let mountpoint: String
        public let type: String
    }

    public let entries: [Entry]

    public init(_ text: String) {
        entries = text.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, !fields[0].hasPrefix("#") else { return nil }
            return Entry(device: String(fields[0]), mountpoint: String(fields[1]), type: String(fields[2]))
        }
    }

    /// Filesystems that hold no part of the guest's own tree, or only its boot files.
    static let ignoredTypes: Set<String> = ["swap", "tmpfs", "proc", "sysfs", "devpts", "devtmpfs", "cgroup", "cgroup2",
                                            "nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "lustre", "fuse.sshfs"]

    /// True when no local filesystem other than the root (and /boot, /boot/efi) is mounted at
    /// boot: then mounting the root alone shows the whole tree a seal or a check needs.
    public var rootHoldsTheTree: Bool {
        entries.allSatisfy { entry in
            entry.mountpoint == "/" || entry.mountpoint == "none" || entry.mountpoint == "/boot"
                || entry.mountpoint.hasPrefix("/boot/") || Self.ignoredTypes.contains(entry.type)
        }
    }
}
