import Foundation
import KVMBuildSupport

enum QemuImg {
    struct Info: Sendable, Codable {
        let format: String
        let virtualSize: Int64
        let actualSize: Int64
        let backingFile: String?
    }

    static func info(_ path: String) async throws -> Info {
        let result = try await ProcessRunner.checked(ProcessSpec("qemu-img", ["info", "--output=json", "-U", path]))
        struct Raw: Decodable {
            let format: String
            let virtualSize: Int64
            let actualSize: Int64?
            let backingFilename: String?
            enum CodingKeys: String, CodingKey {
                case format, virtualSize = "virtual-size", actualSize = "actual-size", backingFilename = "backing-filename"
            }
        }
        let raw = try JSONDecoder().decode(Raw.self, from: Data(result.stdout.utf8))
        return Info(format: raw.format, virtualSize: raw.virtualSize, actualSize: raw.actualSize ?? 0, backingFile: raw.backingFilename)
    }

    /// qemu-img's own consistency check of a qcow2 (metadata, refcounts, no leaks); fast.
    static func check(_ path: String) async throws {
        _ = try await ProcessRunner.checked(ProcessSpec("qemu-img", ["check", "-q", path]),
                                            fix: "the export is damaged; check the disk under \((path as NSString).deletingLastPathComponent) and rebuild")
    }
}
