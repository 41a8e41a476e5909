import ArgumentParser
import Foundation
import Glance
import KVMBuild
import KVMBuildSupport

/// Options shared by `upload` and `compute --upload`.
struct UploadOptions: ParsableArguments {
    @Option(name: .customLong("os-cloud"), help: "Cloud in clouds.yaml (default $OS_CLOUD; without either, OS_* variables).")
    var cloud: String?

    @Option(name: .customLong("property"), help: "Image property key=value; repeatable.")
    var properties: [String] = []

    @Option(name: .customLong("tag"), help: "Image tag; repeatable.")
    var tags: [String] = []

    @Option(help: "Minimum disk in GiB.")
    var minDisk: Int?

    @Option(help: "Minimum RAM in MiB.")
    var minRam: Int?

    @Option(help: "public, private, shared or community.")
    var visibility: String?

    @Flag(help: "Warehouse the existing image of this name once the new one is active and verified.")
    var replace = false

    @Flag(help: "Allow public or community visibility for an image that carries a munge key (anyone could then act as any cluster user).")
    var allowPublicMungeKey = false

    @Flag(help: "With --replace: leave the warehoused image active.")
    var keepActive = false

    @Option(help: "Glance URL instead of the catalog's (e.g. through a proxy).")
    var imageEndpoint: String?

    @Option(help: "Write a terraform variables file with the image id.")
    var tfvars: String?

    @Option(help: "Variable name in --tfvars.")
    var tfvarName = "compute_image_id"

    /// `force`: upload even when an identical active image exists (the verb owns the --force flag).
    func request(file: String, name: String, manifest: Manifest?, force: Bool) throws -> UploadRequest {
        var request = UploadRequest(file: file, name: name)
        if let manifest {
            // The target's own settings first, then the build's provenance, then the flags.
            request.properties = manifest.glance.properties
            request.tags = manifest.glance.tags
            request.minDisk = manifest.glance.minDiskGib
            request.minRam = manifest.glance.minRamMib
            request.visibility = manifest.glance.visibility
            request.properties["kvmbuild_target"] = manifest.target
            request.properties["kvmbuild_build"] = manifest.name
            request.properties["kvmbuild_git_sha"] = manifest.gitSha
            request.properties["kvmbuild_build_time"] = ISO8601DateFormatter().string(from: manifest.created)
            request.properties["kvmbuild_sha256"] = manifest.image.sha256
            if let md5 = manifest.image.md5, let sha512 = manifest.image.sha512 {
                request.knownHashes = FileHashes(md5: md5, sha512: sha512, bytes: manifest.image.sizeBytes)
            }
        }
        for pair in properties {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw KVMBuildError(.invalidInput, "--property '\(pair)' is not key=value", fix: "write --property name=value")
            }
            request.properties[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        request.tags += tags
        if let minDisk { request.minDisk = minDisk }
        if let minRam { request.minRam = minRam }
        if let visibility {
            guard ["public", "private", "shared", "community"].contains(visibility) else {
                throw KVMBuildError(.invalidInput, "--visibility \(visibility) is not one of public, private, shared, community", fix: "pick one of those")
            }
            request.visibility = visibility
        }
        // Glance treats visibility as a core attribute, whichever way it is given.
        if let asProperty = request.properties.removeValue(forKey: "visibility") { request.visibility = request.visibility ?? asProperty }
        try Self.checkVisibility(request.visibility, carriesMungeKey: manifest?.inputs.mungeKeyProvided ?? false, allowed: allowPublicMungeKey)
        request.replace = replace
        request.keepActive = keepActive
        request.force = force
        request.imageEndpointOverride = imageEndpoint
        return request
    }

    /// Uploads under signal handling: SIGINT/SIGTERM delete the half-uploaded image.
    func upload(_ request: UploadRequest, output: OutputOptions) async throws -> UploadResult {
        let credentials = try CloudConfig.load(cloud: cloud)
        let interrupts = InterruptMonitor()
        let task = Task { try await ImageUploader(credentials: credentials).upload(request) }
        interrupts.start { _ in task.cancel() }
        defer { interrupts.stop() }
        do {
            let result = try await task.value
            try writeTfvars(result)
            return result
        } catch {
            if interrupts.signal != nil || error is CancellationError {
                throw KVMBuildError(.interrupted, "upload interrupted; the unfinished image was deleted")
            }
            throw error
        }
    }

    /// The munge key is the root of trust of a Slurm cluster: whoever holds it can act as any
    /// user there. A public or community image hands it to everyone who can list images.
    static func checkVisibility(_ visibility: String?, carriesMungeKey: Bool, allowed: Bool) throws {
        guard let visibility, ["public", "community"].contains(visibility), carriesMungeKey else { return }
        guard allowed else {
            throw KVMBuildError(.invalidInput, "refusing \(visibility) visibility: this image carries the cluster's munge key (/etc/munge/munge.key), and anyone who can see a \(visibility) image could download it and act as any user of the cluster",
                                fix: "upload it private, or shared with the cluster's projects; --allow-public-munge-key if that key is meant to be public")
        }
        Console.shared.warning("uploading a \(visibility) image that carries the cluster's munge key: everyone who can see it can act as any user of the cluster (--allow-public-munge-key)")
    }

    func writeTfvars(_ result: UploadResult) throws {
        guard let tfvars else { return }
        let text = "\(tfvarName) = \"\(result.id)\"\n"
        do {
            try text.write(toFile: tfvars, atomically: true, encoding: .utf8)
        } catch {
            throw KVMBuildError(.io, "cannot write \(tfvars): \(error)", fix: "check the path")
        }
    }

    static func report(_ result: UploadResult, json: Bool) throws {
        if json { try JSON.print(result) } else { Console.shared.result(result.id) }
    }
}

/// `kvmbuild upload IMAGE --name NAME`: stream an exported image to Glance and print its id.
struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload an image to Glance (Keystone v3) and print its id.",
        discussion: "IMAGE may be a .qcow2 or a build folder (build/compute-latest); a build's manifest adds the target's Glance settings and provenance properties.")

    @Argument(help: "A .qcow2 file or a kvmbuild build folder.")
    var image: String

    @Option(help: "Image name in Glance (default: the build's name, or the file name).")
    var name: String?

    @OptionGroup var upload: UploadOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Upload even when an identical active image already exists.")
    var force = false

    func run() async throws {
        output.apply()
        let (file, manifest) = try Self.locate(image)
        let imageName = name ?? manifest?.name ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let result = try await upload.upload(try upload.request(file: file, name: imageName, manifest: manifest, force: force), output: output)
        try UploadOptions.report(result, json: output.json)
    }

    /// The qcow2 to send and the manifest beside it, if any.
    static func locate(_ path: String) throws -> (String, Manifest?) {
        var isDir: ObjCBool = false
        let fm = FileManager.default
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw KVMBuildError(.notFound, "image file \(path) not found", fix: "pass an exported .qcow2 or build/<target>-latest")
        }
        let folder = isDir.boolValue ? path : URL(fileURLWithPath: path).deletingLastPathComponent().path
        let manifest = try? Manifest.load(folder + "/manifest.json")
        if isDir.boolValue {
            guard let manifest else {
                throw KVMBuildError(.notFound, "\(path) has no manifest.json", fix: "pass the .qcow2 itself")
            }
            return (folder + "/" + URL(fileURLWithPath: manifest.image.path).lastPathComponent, manifest)
        }
        let belongs = manifest.map { URL(fileURLWithPath: $0.image.path).lastPathComponent == URL(fileURLWithPath: path).lastPathComponent } ?? false
        return (path, belongs ? manifest : nil)
    }
}
