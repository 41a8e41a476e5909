import Foundation
import KVMBuildSupport

public enum QemuImg {
    public struct Info: Sendable, Codable {
        public let format: String
        public let virtualSize: Int64
        public let actualSize: Int64
        public let backingFile: String?
        public let hasExternalDataFile: Bool
    }

    /// `format` is always given: qemu-img never probes a file kvmbuild did not make.
    static func info(_ path: String, format: String) async throws -> Info {
        let result = try await ProcessRunner.checked(ProcessSpec("qemu-img", ["info", "--output=json", "-U", "-f", format, path]))
        struct Raw: Decodable {
            let format: String
            let virtualSize: Int64
            let actualSize: Int64?
            let backingFilename: String?
            let formatSpecific: FormatSpecific?
            struct FormatSpecific: Decodable {
                let data: [String: JSONValue]?
            }
            enum CodingKeys: String, CodingKey {
                case format, virtualSize = "virtual-size", actualSize = "actual-size", backingFilename = "backing-filename"
                case formatSpecific = "format-specific"
            }
        }
        let raw = try JSONDecoder().decode(Raw.self, from: Data(result.stdout.utf8))
        return Info(format: raw.format, virtualSize: raw.virtualSize, actualSize: raw.actualSize ?? 0, backingFile: raw.backingFilename,
                    hasExternalDataFile: raw.formatSpecific?.data?["data-file"] != nil)
    }

    /// qemu-img's own consistency check of a qcow2 (metadata, refcounts, no leaks); fast.
    static func check(_ path: String) async throws {
        _ = try await ProcessRunner.checked(ProcessSpec("qemu-img", ["check", "-q", "-f", "qcow2", path]),
                                            fix: "the export is damaged; check the disk under \((path as NSString).deletingLastPathComponent) and rebuild")
    }
}

/// Any JSON value, for the parts of qemu-img's output whose shape varies by format.
enum JSONValue: Decodable {
    case string(String), number(Double), bool(Bool), object([String: JSONValue]), array([JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
