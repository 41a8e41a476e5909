import Foundation

/// A Glance v2 image record as the API returns it (top-level properties included).
public struct GlanceImage: Sendable {
    public let fields: [String: String]
    public let tags: [String]

    init(json: [String: Any]) {
        var fields: [String: String] = [:]
        for (key, value) in json where !(value is NSNull) && !(value is [Any]) && !(value is [String: Any]) { fields[key] = "\(value)" }
        self.fields = fields
        tags = json["tags"] as? [String] ?? []
    }

    public var id: String { fields["id"] ?? "" }
    public var name: String { fields["name"] ?? "" }
    public var status: String { fields["status"] ?? "" }
    public var size: Int64? { fields["size"].flatMap { Int64($0) } }
    public var checksum: String? { fields["checksum"] }
    public var hashAlgorithm: String? { fields["os_hash_algo"] }
    public var hashValue: String? { fields["os_hash_value"] }
    public var visibility: String? { fields["visibility"] }
}
