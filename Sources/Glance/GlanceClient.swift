import AsyncHTTPClient
import Foundation
import KVMBuildSupport
import NIOCore

/// The Glance v2 calls kvmbuild needs.
public struct GlanceClient: Sendable {
    let http: HTTP
    public let session: KeystoneSession
    var images: String { session.imageEndpoint + "/v2/images" }

    static let patchType = "application/openstack-images-v2.1-json-patch"

    public func create(name: String, diskFormat: String, visibility: String?, minDisk: Int?, minRam: Int?,
                       properties: [String: String], tags: [String]) async throws -> GlanceImage {
        var body: [String: Any] = ["name": name, "disk_format": diskFormat, "container_format": "bare", "tags": tags]
        if let visibility { body["visibility"] = visibility }
        if let minDisk { body["min_disk"] = minDisk }
        if let minRam { body["min_ram"] = minRam }
        for (key, value) in properties { body[key] = value }
        let response = try await http.send(.POST, images, token: session.token, json: body)
            .require([201], "creating image \(name)", fix: "check the properties (reserved names like 'id' or 'status' are refused)")
        return GlanceImage(json: response.json)
    }

    public func get(_ id: String) async throws -> GlanceImage? {
        let response = try await http.send(.GET, "\(images)/\(id)", token: session.token)
        if response.status == 404 { return nil }
        return GlanceImage(json: try response.require([200], "reading image \(id)", fix: "check the image id").json)
    }

    /// Images with exactly this name that this project can see.
    public func find(name: String) async throws -> [GlanceImage] {
        let encoded = name.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? name
        let response = try await http.send(.GET, "\(images)?name=\(encoded)&limit=100", token: session.token)
            .require([200], "listing images named \(name)", fix: "check the cloud's Glance")
        return (response.json["images"] as? [[String: Any]] ?? []).map(GlanceImage.init).filter { $0.name == name }
    }

    /// JSON-patch `replace`/`add` of top-level fields (name, visibility, properties).
    public func update(_ id: String, set fields: [String: String]) async throws {
        let ops = fields.map { ["op": "add", "path": "/\($0.key)", "value": $0.value] }
        _ = try await http.send(.PATCH, "\(images)/\(id)", token: session.token, json: ops, contentType: Self.patchType)
            .require([200], "updating image \(id)", fix: "check your rights on the image")
    }

    public func delete(_ id: String) async throws {
        _ = try await http.send(.DELETE, "\(images)/\(id)", token: session.token).require([204, 404], "deleting image \(id)", fix: "delete it by hand")
    }

    public func deactivate(_ id: String) async throws {
        _ = try await http.send(.POST, "\(images)/\(id)/actions/deactivate", token: session.token)
            .require([204], "deactivating image \(id)", fix: "pass --keep-active to skip")
    }

    public func reactivate(_ id: String) async throws {
        _ = try await http.send(.POST, "\(images)/\(id)/actions/reactivate", token: session.token)
            .require([204], "reactivating image \(id)", fix: "reactivate it by hand")
    }

    public func members(_ id: String) async throws -> [String] {
        let response = try await http.send(.GET, "\(images)/\(id)/members", token: session.token)
        if response.status == 403 || response.status == 404 { return [] }
        return (try response.require([200], "listing members of \(id)", fix: "check your rights").json["members"] as? [[String: Any]] ?? [])
            .compactMap { $0["member_id"] as? String }
    }

    public func addMember(_ id: String, member: String) async throws {
        _ = try await http.send(.POST, "\(images)/\(id)/members", token: session.token, json: ["member": member])
            .require([200, 409], "sharing image \(id) with \(member)", fix: "the image must be visibility 'shared'")
    }

    /// Streams the file as the image's data, hashing as it goes unless `known` gives its hashes;
    /// returns the hashes (`known`, when given, once the size sent matched).
    public func upload(_ id: String, file: String, size: Int64, known: FileHashes? = nil, progress: (@Sendable (Int64) -> Void)?) async throws -> FileHashes {
        let body = HashingFileBody(path: file, hashing: known == nil, progress: progress)
        var request = HTTPClientRequest(url: "\(images)/\(id)/file")
        request.method = .PUT
        request.headers.add(name: "X-Auth-Token", value: session.token)
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        // Lets stores that care (RBD, S3) size the target up front.
        request.headers.add(name: "x-openstack-image-size", value: String(size))
        request.body = .stream(body, length: .known(size))
        let response: HTTP.Response
        do {
            response = try await http.execute(request, timeout: .hours(6))
        } catch let error as KVMBuildError {
            throw KVMBuildError(.io, "uploading \(file) was cut off after \(body.state.bytesSent >> 20) MiB (\(error.message))",
                                fix: "retry the upload; kvmbuild deletes the unfinished image")
        }
        _ = try response.require([204], "uploading \(file)", fix: "check free space on the Glance store and retry")
        guard let hashes = body.state.finish(expectedBytes: size) else {
            throw KVMBuildError(.io, "the file changed size while it was uploaded", fix: "do not modify the image during upload")
        }
        return known ?? hashes
    }
}
