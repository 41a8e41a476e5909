import Foundation
import KVMBuildSupport

/// Verified base image in the cache, and a qcow2 overlay on it for the guest to write to.
struct BaseImagePhase: BuildPhase {
    let name = "base-image"

    func run(_ build: BuildContext) async throws {
        let cache = ImageCache(cacheDirectory: build.options.cacheDirectory)
        let base = try await cache.fetch(source: build.target.baseImage.source, checksum: build.target.baseImage.checksum, console: build.console)
        try build.produce(\.base, base)

        let info = try await Self.standaloneInfo(base, images: build.tools.images)
        var size: Int64?
        if let gib = build.target.diskSizeGiB {
            let bytes = Int64(gib) << 30
            guard bytes >= info.virtualSize else {
                throw KVMBuildError(.invalidInput, "disk_size_gib \(gib) is smaller than the base image's \(info.virtualSize >> 30) GiB",
                                    fix: "raise disk_size_gib or leave it out to keep the base size")
            }
            size = bytes
        }
        build.addCleanup("remove overlay") { try? FileManager.default.removeItem(atPath: build.paths.overlay) }
        try await build.tools.images.createOverlay(build.paths.overlay, backing: base.path, backingFormat: info.format, sizeBytes: size)
    }

    /// A base image is data, never a pointer: refused, before any guest exists, when it is not
    /// qcow2 or raw, or when its header names a backing or data file (QEMU, opening it, would
    /// read that file of the build host as the guest's disk). Our own header reader decides, and
    /// qemu-img must agree on the format, which is then passed explicitly (-F) from here on.
    static func standaloneInfo(_ base: CachedImage, images: any DiskImageTool = QemuImgTool()) async throws -> QemuImg.Info {
        let header = try DiskImageHeader.read(base.path)
        if let problem = header.pointerProblem {
            throw KVMBuildError(.invalidInput, "refusing base image \(base.source): \(problem)", fix: DiskImageHeader.flattenFix(base.source))
        }
        let info = try await images.info(base.path, format: header.format.rawValue)
        guard info.backingFile == nil, !info.hasExternalDataFile else {
            throw KVMBuildError(.invalidInput, "refusing base image \(base.source): qemu-img reports a backing or data file", fix: DiskImageHeader.flattenFix(base.source))
        }
        return info
    }
}
