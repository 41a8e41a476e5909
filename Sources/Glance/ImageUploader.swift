import AsyncHTTPClient
import Foundation
import KVMBuildSupport

/// What to upload and how, as `kvmbuild upload` flags say.
public struct UploadRequest: Sendable {
    public var file: String
    public var name: String
    public var properties: [String: String] = [:]
    public var tags: [String] = []
    public var minDisk: Int?
    public var minRam: Int?
    public var visibility: String?
    /// Packuilon's rename-old-images: warehouse the existing image once the new one is verified.
    public var replace = false
    public var keepActive = false
    /// Upload even when an identical active image exists.
    public var force = false
    public var imageEndpointOverride: String?
    /// md5 and sha512 of the file when kvmbuild exported it (the build's manifest): Glance's own
    /// hashes are then checked against these, and the file is not hashed again while it is sent
    /// (which made the upload CPU-bound). Ignored when the file's size no longer matches.
    public var knownHashes: FileHashes?

    public init(file: String, name: String) {
        self.file = file
        self.name = name
    }
}

public struct UploadResult: Sendable, Encodable {
    public let id: String
    public let name: String
    public let status: String
    public let size: Int64
    public let checksum: String
    public let osHashAlgo: String
    public let osHashValue: String
    public let warehousedId: String?
    /// True when an identical image already existed and nothing was uploaded.
    public let alreadyPresent: Bool
}

/// Create → stream (md5 + sha512 in the same pass) → wait for active → verify Glance's hashes
/// → (replace: warehouse the old image, move members, take its name). Any failure or
/// interrupt deletes the image this run created and leaves the old one as it was.
public struct ImageUploader: Sendable {
    public let credentials: CloudCredentials
    public let console: Console

    public init(credentials: CloudCredentials, console: Console = .shared) {
        self.credentials = credentials
        self.console = console
    }

    public func upload(_ request: UploadRequest) async throws -> UploadResult {
        let size = try Self.checkQcow2(request.file)
        var request = request
        if let known = request.knownHashes, known.bytes != size {
            console.warning("\(request.file) is not the size its manifest records; hashing it while uploading")
            request.knownHashes = nil
        }
        let client = try credentials.tls.makeClient()
        do {
            let result = try await upload(request, size: size, http: HTTP(client: client))
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func upload(_ request: UploadRequest, size: Int64, http: HTTP) async throws -> UploadResult {
        let session = try await KeystoneSession.authenticate(credentials, http: http, imageEndpointOverride: request.imageEndpointOverride)
        let glance = GlanceClient(http: http, session: session)

        let existing = try await glance.find(name: request.name).filter { $0.status == "active" }
        if !request.force, existing.contains(where: { $0.size == size }) {
            let local = try request.knownHashes ?? hashFile(request.file)
            if let same = existing.first(where: { $0.hashValue == local.sha512 }) {
                console.info("image \(same.id) named \(request.name) already holds this file (same sha512); nothing uploaded (--force to upload anyway)")
                return Self.result(same, warehoused: nil, alreadyPresent: true)
            }
        }
        let old = request.replace ? existing.first : nil
        if request.replace && existing.count > 1 {
            throw KVMBuildError(.invalidInput, "\(existing.count) active images are named \(request.name); --replace needs one", fix: "rename or delete the extras first")
        }
        if !request.replace, !existing.isEmpty {
            console.warning("\(existing.count) image(s) named \(request.name) already exist; adding another (--replace warehouses the old one)")
        }

        let stamp = Self.timestamp()
        let uploadName = old == nil ? request.name : "\(request.name)-uploading-\(stamp)"
        let created = try await glance.create(name: uploadName, diskFormat: "qcow2", visibility: request.visibility,
                                              minDisk: request.minDisk, minRam: request.minRam,
                                              properties: request.properties, tags: request.tags)
        console.info("created image \(created.id) (\(uploadName)); uploading \(size >> 20) MiB")
        do {
            let image = try await send(request, into: created, size: size, glance: glance)
            guard let old else { return Self.result(image, warehoused: nil, alreadyPresent: false) }
            let final = try await warehouse(old, new: image, request: request, stamp: stamp, glance: glance)
            return Self.result(final, warehoused: old.id, alreadyPresent: false)
        } catch {
            // A fresh task: deleting must happen even when this one was cancelled by a signal.
            await Task {
                do {
                    try await glance.delete(created.id)
                    console.info("deleted the unfinished image \(created.id)")
                } catch {
                    console.error("could not delete the unfinished image \(created.id): \(error)")
                }
            }.value
            throw error
        }
    }

    private func send(_ request: UploadRequest, into image: GlanceImage, size: Int64, glance: GlanceClient) async throws -> GlanceImage {
        let start = Date()
        let bar = Progress(console: console)
        let total = max(size, 1)
        let local = try await glance.upload(image.id, file: request.file, size: size, known: request.knownHashes) { sent in
            let rate = Double(sent) / max(Date().timeIntervalSince(start), 0.001)
            bar.update(String(format: "uploading: %3.0f%% of %@ (%@/s)", Double(sent) * 100 / Double(total), Progress.bytes(size), Progress.bytes(Int64(rate))),
                       force: sent == size)
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(start)
        console.info(String(format: "uploaded %lld MiB in %.1f s (%.0f MiB/s)", size >> 20, seconds, Double(size >> 20) / max(seconds, 0.001)))
        let active = try await waitForActive(image.id, glance: glance)
        guard active.checksum == local.md5, active.hashValue == local.sha512 else {
            let exported = request.knownHashes != nil
            throw KVMBuildError(.checksumMismatch, "Glance stored different bytes than \(exported ? "the build exported" : "were sent"): md5 \(active.checksum ?? "none") vs \(local.md5), sha512 \(active.hashValue?.prefix(16) ?? "none")… vs \(local.sha512.prefix(16))…",
                                fix: exported ? "the image file changed after its export (the manifest records other hashes): rebuild it; the uploaded image was deleted"
                                              : "retry the upload; the image was deleted")
        }
        return active
    }

    private func waitForActive(_ id: String, glance: GlanceClient) async throws -> GlanceImage {
        let deadline = Date().addingTimeInterval(30 * 60)
        while Date() < deadline {
            guard let image = try await glance.get(id) else {
                throw KVMBuildError(.io, "image \(id) disappeared while Glance processed it", fix: "retry the upload")
            }
            switch image.status {
            case "active": return image
            case "killed", "deleted", "deactivated":
                throw KVMBuildError(.io, "Glance set image \(id) to \(image.status)", fix: "see the Glance API log")
            default: try await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
        throw KVMBuildError(.timeout, "image \(id) did not become active in 30 minutes", fix: "see the Glance API log")
    }

    /// Old → `warehoused-<name>-<stamp>` (deactivated), members copied, new → canonical name.
    /// Undone step by step if anything fails, so the old image ends as it began.
    private func warehouse(_ old: GlanceImage, new: GlanceImage, request: UploadRequest, stamp: String, glance: GlanceClient) async throws -> GlanceImage {
        let warehousedName = "warehoused-\(request.name)-\(stamp)"
        var undo: [@Sendable () async throws -> Void] = []
        do {
            try await glance.update(old.id, set: ["name": warehousedName])
            undo.append { try await glance.update(old.id, set: ["name": old.name]) }
            let members = try await glance.members(old.id)
            if !members.isEmpty {
                try await glance.update(new.id, set: ["visibility": "shared"])
                for member in members { try await glance.addMember(new.id, member: member) }
            }
            try await glance.update(new.id, set: ["name": request.name])
            if !request.keepActive {
                try await glance.deactivate(old.id)
                undo.append { try await glance.reactivate(old.id) }
            }
            console.info("warehoused \(old.id) as \(warehousedName)\(request.keepActive ? "" : " (deactivated)"); moved \(members.count) member(s)")
            return try await glance.get(new.id) ?? new
        } catch {
            let steps = undo
            await Task {
                for step in steps.reversed() { try? await step() }
            }.value
            throw error
        }
    }

    /// Size of a standalone qcow2 file; anything else is refused before Glance is contacted: a
    /// qcow2 that points at a backing or data file would reach the cloud as a broken image, or
    /// make a hypervisor read a file of its own.
    static func checkQcow2(_ path: String) throws -> Int64 {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw KVMBuildError(.notFound, "image file \(path) not found", fix: "pass the path of an exported .qcow2 (build/<target>-latest/)")
        }
        let header = try DiskImageHeader.read(path)
        guard header.format == .qcow2 else {
            throw KVMBuildError(.invalidInput, "\(path) is not a qcow2 image", fix: "convert it with qemu-img convert -O qcow2, or upload a kvmbuild export")
        }
        if let problem = header.pointerProblem {
            throw KVMBuildError(.invalidInput, "refusing to upload \(path): \(problem)", fix: DiskImageHeader.flattenFix(path))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        return size
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }

    static func result(_ image: GlanceImage, warehoused: String?, alreadyPresent: Bool) -> UploadResult {
        UploadResult(id: image.id, name: image.name, status: image.status, size: image.size ?? 0, checksum: image.checksum ?? "",
                     osHashAlgo: image.hashAlgorithm ?? "", osHashValue: image.hashValue ?? "", warehousedId: warehoused,
                     alreadyPresent: alreadyPresent)
    }
}
