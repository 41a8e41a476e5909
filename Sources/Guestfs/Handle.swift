import CGuestfs
#if canImport(Glibc)
import Glibc
#endif

/// One libguestfs handle (one appliance). Not thread-safe, so not Sendable: it is made, used and
/// closed inside one blocking closure (`runBlocking`), never shared between tasks.
/// Launching the appliance is the expensive part (15-30 s under TCG), so callers batch work per handle.
public final class Handle {
    private let g: OpaquePointer

    /// - Parameter forceTCG: run the appliance under software emulation; needed where /dev/kvm
    ///   opens but cannot run guests, which libguestfs cannot detect on its own and would hang on.
    public init(forceTCG: Bool) throws {
        guard let g = guestfs_create() else {
            throw GuestfsError(operation: "guestfs_create", message: "could not create a libguestfs handle")
        }
        self.g = g
        // Errors come back to callers as GuestfsError; libguestfs would otherwise print them too.
        guestfs_set_error_handler(g, nil, nil)
        if forceTCG {
            try check(guestfs_set_backend(g, "direct"), "guestfs_set_backend")
            try withCStringArray(["force_tcg"]) { try check(guestfs_set_backend_settings(g, $0), "guestfs_set_backend_settings") }
        }
    }

    deinit { guestfs_close(g) }

    public func addDrive(_ path: String, format: String, readOnly: Bool, discard: Bool = false) throws {
        try format.withCString { formatPtr in
            try "besteffort".withCString { discardPtr in
                var opts = guestfs_add_drive_opts_argv()
                opts.bitmask = KVMB_ADD_DRIVE_READONLY | KVMB_ADD_DRIVE_FORMAT
                opts.readonly = readOnly ? 1 : 0
                opts.format = formatPtr
                if discard {
                    opts.bitmask |= KVMB_ADD_DRIVE_DISCARD
                    opts.discard = discardPtr
                }
                try check(guestfs_add_drive_opts_argv(g, path, &opts), "guestfs_add_drive(\(path))")
            }
        }
    }

    public func launch() throws { try check(guestfs_launch(g), "guestfs_launch") }

    /// The guest's filesystems as mounted: (mountpoint, device), shallow paths first.
    public private(set) var mounts: [(mountpoint: String, device: String)] = []

    /// Finds the guest's operating system and mounts its filesystems (read-only if asked);
    /// returns the root device. A quick probe finds the root filesystem when fstab shows it
    /// holds the whole tree (see `Fstab`); anything else gets libguestfs's full inspection.
    @discardableResult
    public func mountOperatingSystem(readOnly: Bool) throws -> String {
        if let root = try probeRoot() {
            try mount([("/", root)], readOnly: readOnly)
            return root
        }
        return try inspectAndMount(readOnly: readOnly)
    }

    /// Unmounts everything and mounts the same filesystems again read-only: what was just
    /// written can then be checked as it will be shipped, without a second appliance.
    public func remountReadOnly() throws {
        let current = mounts
        try unmountAll()
        try mount(current, readOnly: true)
    }

    private static let rootFilesystemTypes: Set<String> = ["ext2", "ext3", "ext4", "xfs", "btrfs"]

    /// The partition (or whole disk) whose filesystem has /etc/os-release and an fstab that
    /// mounts nothing else we touch; nil when there is none or the layout needs inspection.
    private func probeRoot() throws -> String? {
        var candidates = try takeList(guestfs_list_partitions(g), "guestfs_list_partitions")
        if candidates.isEmpty { candidates = try takeList(guestfs_list_devices(g), "guestfs_list_devices") }
        for device in candidates {
            // Partitions without a filesystem (BIOS boot, LVM, swap) have no type or the wrong one.
            guard let type = try? takeString(guestfs_vfs_type(g, device), "guestfs_vfs_type"),
                  Self.rootFilesystemTypes.contains(type),
                  guestfs_mount_ro(g, device, "/") == 0 else { continue }
            defer { _ = guestfs_umount_all(g) }
            guard try exists("/etc/os-release"), try exists("/etc/fstab") else { continue }
            return Fstab(try cat("/etc/fstab")).rootHoldsTheTree ? device : nil
        }
        return nil
    }

    /// libguestfs's full inspection, then its mounts; `distro` and `majorVersion` need it.
    @discardableResult
    public func inspectAndMount(readOnly: Bool) throws -> String {
        let roots = try takeList(guestfs_inspect_os(g), "guestfs_inspect_os")
        guard let root = roots.first else {
            throw GuestfsError(operation: "guestfs_inspect_os", message: "no operating system found in the disk image")
        }
        let pairs = try takeList(guestfs_inspect_get_mountpoints(g, root), "guestfs_inspect_get_mountpoints")
        // Mount shallow paths first so /boot lands inside /.
        let found = stride(from: 0, to: pairs.count - 1, by: 2).map { (pairs[$0], pairs[$0 + 1]) }
            .sorted { $0.0.count < $1.0.count }
        try mount(found, readOnly: readOnly)
        return root
    }

    private func mount(_ list: [(mountpoint: String, device: String)], readOnly: Bool) throws {
        for (mountpoint, device) in list {
            let rc = readOnly ? guestfs_mount_ro(g, device, mountpoint) : guestfs_mount(g, device, mountpoint)
            try check(rc, "guestfs_mount(\(device) on \(mountpoint))")
        }
        mounts = list
    }

    public func distro(root: String) throws -> String { try takeString(guestfs_inspect_get_distro(g, root), "guestfs_inspect_get_distro") }
    public func majorVersion(root: String) throws -> Int { Int(try checkValue(guestfs_inspect_get_major_version(g, root), "guestfs_inspect_get_major_version")) }

    public func exists(_ path: String) throws -> Bool { try checkValue(guestfs_exists(g, path), "guestfs_exists(\(path))") == 1 }
    public func cat(_ path: String) throws -> String { try takeString(guestfs_cat(g, path), "guestfs_cat(\(path))") }
    public func glob(_ pattern: String) throws -> [String] { try takeList(guestfs_glob_expand(g, pattern), "guestfs_glob_expand(\(pattern))") }

    public struct FileStatus: Sendable {
        public let uid: Int64
        public let gid: Int64
        public let permissions: Int64
        public let size: Int64
    }

    public func lstat(_ path: String) throws -> FileStatus {
        guard let st = guestfs_lstatns(g, path) else { throw lastError("guestfs_lstatns(\(path))") }
        defer { guestfs_free_statns(st) }
        return FileStatus(uid: st.pointee.st_uid, gid: st.pointee.st_gid, permissions: st.pointee.st_mode & 0o7777, size: st.pointee.st_size)
    }


    /// Byte offset of a partition on its disk (0 for a file system on the whole disk).
    public func partitionStart(_ device: String) throws -> Int64 {
        guard let disk = guestfs_part_to_dev(g, device) else { return 0 }  // not a partition
        defer { free(disk) }
        let number = guestfs_part_to_partnum(g, device)
        guard number > 0, let list = guestfs_part_list(g, disk) else { throw lastError("guestfs_part_list(\(device))") }
        defer { guestfs_free_partition_list(list) }
        for index in 0..<Int(list.pointee.len) where list.pointee.val[index].part_num == number {
            return Int64(list.pointee.val[index].part_start)
        }
        throw GuestfsError(operation: "guestfs_part_list", message: "partition \(number) of \(String(cString: disk)) not listed")
    }

    /// The device mounted at the deepest mountpoint that holds `path`.
    public func device(holding path: String) -> String? {
        mounts.filter { path == $0.mountpoint || path.hasPrefix($0.mountpoint == "/" ? "/" : $0.mountpoint + "/") }
            .max { $0.mountpoint.count < $1.mountpoint.count }?.device
    }

    /// Runs a shell command inside the guest's mounted filesystem (chrooted), returning its stdout.
    @discardableResult
    public func sh(_ command: String) throws -> String { try takeString(guestfs_sh(g, command), "guestfs_sh") }

    /// Discards freed blocks so the qcow2 under the handle (added with discard) shrinks.
    public func fstrim(_ mountpoint: String) throws {
        var opts = guestfs_fstrim_argv()
        opts.bitmask = 0
        try check(guestfs_fstrim_argv(g, mountpoint, &opts), "guestfs_fstrim(\(mountpoint))")
    }

    public func sync() throws { try check(guestfs_sync(g), "guestfs_sync") }
    public func unmountAll() throws {
        try check(guestfs_umount_all(g), "guestfs_umount_all")
        mounts = []
    }

    /// Flushes and stops the appliance; for writable handles this is when changes are safe on disk.
    public func shutdown() throws { try check(guestfs_shutdown(g), "guestfs_shutdown") }

    // MARK: - C boundary helpers

    private func lastError(_ operation: String) -> GuestfsError {
        let message = guestfs_last_error(g).map { String(cString: $0) } ?? "unknown libguestfs error"
        return GuestfsError(operation: operation, message: message)
    }

    private func check(_ rc: Int32, _ operation: String) throws {
        if rc == -1 { throw lastError(operation) }
    }

    private func checkValue(_ rc: Int32, _ operation: String) throws -> Int32 {
        if rc == -1 { throw lastError(operation) }
        return rc
    }

    private func takeString(_ pointer: UnsafeMutablePointer<CChar>?, _ operation: String) throws -> String {
        guard let pointer else { throw lastError(operation) }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    private func takeList(_ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ operation: String) throws -> [String] {
        guard let list else { throw lastError(operation) }
        defer { free(list) }
        var result: [String] = []
        var index = 0
        while let item = list[index] {
            result.append(String(cString: item))
            free(item)
            index += 1
        }
        return result
    }
}

/// Passes a Swift string array as a NULL-terminated `char *const *`.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    return try (duplicated + [nil]).withUnsafeBufferPointer { try body($0.baseAddress!) }
}
