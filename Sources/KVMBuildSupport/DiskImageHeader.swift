import Foundation

/// The first bytes of a disk image, read without QEMU: what kvmbuild must know before it lets
/// QEMU (or Glance, or a hypervisor) open a file from elsewhere. A qcow2 header can name a
/// backing file or an external data file by path: QEMU would open that host file as part of the
/// guest's disk, and an export would copy it into the image.
public struct DiskImageHeader: Sendable, Equatable {
    public enum Format: String, Sendable { case qcow2, raw }

    public let format: Format
    public let version: UInt32
    /// The backing file the header names, if any.
    public let backingFile: String?
    /// qcow2 v3 incompatible feature bit 2: guest data lives in another file.
    public let hasExternalDataFile: Bool

    static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]  // "QFI\xfb"

    /// Reads the header; anything that does not start with the qcow2 magic counts as raw.
    public static func read(_ path: String) throws -> DiskImageHeader {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KVMBuildError(.notFound, "image file \(path) not found or not readable", fix: "check the path")
        }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 104)) ?? Data())
        guard head.count >= 72, Array(head[0..<4]) == qcow2Magic else {
            return DiskImageHeader(format: .raw, version: 0, backingFile: nil, hasExternalDataFile: false)
        }
        func be64(_ at: Int) -> UInt64 { head[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        func be32(_ at: Int) -> UInt32 { head[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        let version = be32(4)
        let backingOffset = be64(8)
        let backingSize = be32(16)
        var backing: String?
        if backingOffset != 0 {
            try handle.seek(toOffset: backingOffset)
            let name = (try? handle.read(upToCount: Int(min(backingSize, 4096)))) ?? Data()
            backing = String(decoding: name, as: UTF8.self)
        }
        let incompatible = version >= 3 && head.count >= 80 ? be64(72) : 0
        return DiskImageHeader(format: .qcow2, version: version, backingFile: backing, hasExternalDataFile: incompatible & 0x4 != 0)
    }

    /// Why a file must not be used as a standalone image, or nil when it may.
    public var pointerProblem: String? {
        if let backingFile { return "its qcow2 header names a backing file (\(backingFile.isEmpty ? "an empty name" : backingFile))" }
        if hasExternalDataFile { return "its qcow2 header keeps the data in an external data file" }
        return nil
    }

    /// One way to make any image standalone.
    public static func flattenFix(_ path: String) -> String {
        "make it standalone first: qemu-img convert -O qcow2 \(path) standalone.qcow2 (then use that file and its sha256)"
    }
}
