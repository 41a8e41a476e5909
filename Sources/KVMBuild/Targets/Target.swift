import Foundation
import KVMBuildSupport

/// One buildable image, as declared in kvmbuild.yml (paths already resolved to absolute).
public struct Target: Sendable, Codable, Equatable {
    public struct BaseImage: Sendable, Codable, Equatable {
        /// A local path, or a file:// / http(s):// URL.
        public var source: String
        /// `sha256:HEX`, or `file:PATH` naming a sha256sum-style file (Packer's iso_checksum forms).
        public var checksum: String
    }

    public struct Verification: Sendable, Codable, Equatable {
        public struct FileExpectation: Sendable, Codable, Equatable {
            public var path: String
            public var owner: String?
            public var mode: String?
        }
        /// systemd units that must be enabled (a wants symlink exists) in the exported image.
        public var enabledUnits: [String] = []
        /// Paths that must not exist in the exported image.
        public var absent: [String] = []
        public var files: [FileExpectation] = []
    }

    public struct GlanceSettings: Sendable, Codable, Equatable {
        public var properties: [String: String] = [:]
        public var minDiskGib: Int?
        public var minRamMib: Int?
        public var visibility: String?
        public var tags: [String] = []
    }

    public var name: String
    public var baseImage: BaseImage
    public var playbook: String
    /// Inventory groups the build guest joins; `builder` is always added as a child of each.
    public var groups: [String]
    public var extraVars: [String: String]
    public var varFiles: [String]
    /// Virtual disk size in GiB; nil keeps the base image's size.
    public var diskSizeGiB: Int?
    public var memoryMiB: Int
    public var vcpus: Int
    public var sshUser: String
    public var mungeKey: String?
    /// e.g. `{target}-{yymmdd}-{hhmm}-{gitsha}`.
    public var outputName: String
    public var verify: Verification
    public var glance: GlanceSettings
    /// How the exported qcow2's clusters are compressed.
    public var compression: ImageCompression = .zstd
    /// Checks on a new instance booted from the export (the test phase).
    public var test = TestSpec()
    /// The cloud-init user-data template (`cloud_init:`); nil: the project's
    /// cloud-init/user-data.yaml if there is one, else kvmbuild's built-in copy.
    public var cloudInit: String?
    /// What the build guest's apt fetches through (`package_cache:`); not an input of the image.
    public var packageCache: PackageCacheSetting = .auto
}

/// qcow2 cluster compression of the exported image. zstd compresses about 2.5x faster than zlib
/// here and a little smaller; readers need QEMU >= 5.1, which every hypervisor a supported Nova
/// runs has (Nova 2024.2 requires QEMU 5.2). zlib is for older clouds, and is what Packer writes.
public enum ImageCompression: String, Sendable, Codable, CaseIterable {
    case zstd, zlib
}
