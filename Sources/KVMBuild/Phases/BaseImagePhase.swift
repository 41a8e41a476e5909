import Foundation
import KVMBuildSupport

/// Verified base image in the cache, and a qcow2 overlay on it for the guest to write to.
struct BaseImagePhase: BuildPhase {
    let name = "base-image"

    func run(_ build: BuildContext) async throws {
        let cache = ImageCache(cacheDirectory: build.options.cacheDirectory)
        let base = try await cache.fetch(source: build.target.baseImage.source, checksum: build.target.baseImage.checksum, console: build.console)
        build.base = base

        let info = try await QemuImg.info(base.path)
        var args = ["create", "-q", "-f", "qcow2", "-F", info.format, "-b", base.path, build.paths.overlay]
        if let gib = build.target.diskSizeGiB {
            let bytes = Int64(gib) << 30
            guard bytes >= info.virtualSize else {
                throw KVMBuildError(.invalidInput, "disk_size_gib \(gib) is smaller than the base image's \(info.virtualSize >> 30) GiB",
                                    fix: "raise disk_size_gib or leave it out to keep the base size")
            }
            args.append(String(bytes))
        }
        build.addCleanup("remove overlay") { try? FileManager.default.removeItem(atPath: build.paths.overlay) }
        try await ProcessRunner.checked(ProcessSpec("qemu-img", args))
    }
}
