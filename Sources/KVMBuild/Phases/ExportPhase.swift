import Foundation
import KVMBuildSupport

/// The exported artifact: a standalone compressed qcow2 with its hash and sizes.
public struct ExportedImage: Sendable, Codable {
    public let path: String
    public let sha256: String
    public let sizeBytes: Int64
    public let virtualSizeBytes: Int64
    /// What Glance will compute of the file (its `checksum` and sha512 `os_hash_value`), taken at
    /// export: an upload of the build checks Glance's against these. nil in older manifests.
    public var md5: String?
    public var sha512: String?

    public init(path: String, sha256: String, sizeBytes: Int64, virtualSizeBytes: Int64, md5: String? = nil, sha512: String? = nil) {
        self.path = path
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.virtualSizeBytes = virtualSizeBytes
        self.md5 = md5
        self.sha512 = sha512
    }
}

/// Flattens the sealed, verified overlay into a standalone, compressed qcow2 (no backing file),
/// checked by qemu-img before it takes its final name.
struct ExportPhase: BuildPhase {
    let name = "export"

    func run(_ build: BuildContext) async throws {
        let paths = build.paths
        build.addCleanup("remove unfinished export", onlyOnFailure: true) {
            try? FileManager.default.removeItem(atPath: paths.imagePartial)
            try? FileManager.default.removeItem(atPath: paths.image)
            try? FileManager.default.removeItem(atPath: paths.imageChecksum)
        }
        let images = build.tools.images
        let code = try await images.exportCompressed(paths.overlay, to: paths.imagePartial, compression: build.target.compression.rawValue,
                                                     showProgress: build.console.stderrIsTTY)
        guard code == 0 else {
            if let free = GuestWatch.freeBytes(paths.root), free < 64 << 20 { throw GuestWatch.diskFull(paths.root) }
            throw KVMBuildError(.processFailed, "qemu-img convert exited \(code)", fix: "check free space in \(build.options.buildDirectory)")
        }
        try await images.check(paths.imagePartial)
        guard rename(paths.imagePartial, paths.image) == 0 else { throw KVMBuildError(.io, "cannot rename \(paths.imagePartial)") }
        let digests = try await runBlocking { try Hashing.imageDigests(ofFile: paths.image) }
        let sha = digests.sha256
        try "\(sha)  \(paths.name).qcow2\n".write(toFile: paths.imageChecksum, atomically: true, encoding: .utf8)
        let info = try await images.info(paths.image, format: "qcow2")
        let size = ((try FileManager.default.attributesOfItem(atPath: paths.image)[.size]) as? Int64) ?? info.actualSize
        try build.produce(\.export, ExportedImage(path: paths.image, sha256: sha, sizeBytes: size, virtualSizeBytes: info.virtualSize,
                                                        md5: digests.md5, sha512: digests.sha512))
        build.console.info("exported \(paths.image) (\(size >> 20) MiB, sha256 \(sha.prefix(16))…)")
    }
}
