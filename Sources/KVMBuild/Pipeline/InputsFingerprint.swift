import ConfigDrive
import Foundation
import KVMBuildSupport

/// One sha256 over everything that decides what a build puts into its image: the base image's
/// hash, the playbook tree, groups, extra vars, var files, the cloud-init template and the seed
/// flavour, and the munge key: an image carries the cluster's key, so a rotated key must rebuild.
/// Secret parts (munge key, extra vars, secret vars) enter only as HMACs under the host's own
/// key (HostSecret): the fingerprint is in every manifest, and a plain hash of a short password
/// could be tested offline. Per-build keys are left out (the build key is new every time; an
/// added SSH key does not change the image). Guest memory and vCPUs change how fast a build
/// runs, not what it makes, so they are left out too.
public enum InputsFingerprint {
    /// What kvmbuild itself does to an image, derived rather than bumped by hand: the seal and
    /// its residue check, the domain a build guest runs in, and what the config drive adds to
    /// the template, each rendered for a fixed sample. A kvmbuild that seals, boots or seeds
    /// differently makes a different recipe, so its builds never reuse an older one's; and
    /// kvmbuild's own version, so neither does another release.
    static let recipeVersion: String = {
        let user = "kvmbuild", host = "kvmbuild-recipe"
        let operations = SealOperation.all(buildUser: user, buildHostname: host)
        let domain = GuestDomain(name: "recipe", accelerator: .tcg, memoryMiB: 1024, vcpus: 1, disk: "/d", configDrive: "/c", consoleLog: "/l",
                                 sshPort: 2222, metadata: .init(id: "0", target: "t", pid: 0, folder: "/f")).xml()
            .replacingOccurrences(of: "+\(getuid()):+\(getgid())", with: "+uid:+gid")
        let seed = (try? UserData.render(template: "#cloud-config\n", content: ConfigDriveContent(
            flavor: .configdrive, instanceID: "i", hostname: host, user: user, authorizedKeys: ["k"], hostKey: .init(privateKey: "p", publicKey: "q"),
            mungeKey: Data("m".utf8)))) ?? "unrenderable"
        let parts = [SealOperation.script(operations, buildUser: user, buildHostname: host),
                     SealOperation.residueScript(operations, buildUser: user, buildHostname: host), domain, seed,
                     "kvmbuild " + KVMBuildVersion.string]
        return "kvmbuild-recipe " + Hashing.sha256(of: Data(parts.joined(separator: "\n--\n").utf8))
    }()

    public static func compute(target: Target, options: BuildOptions) throws -> String {
        let secret = try HostSecret.load(cacheDirectory: options.cacheDirectory)
        let playbookDir = URL(fileURLWithPath: target.playbook).deletingLastPathComponent().path
        var lines = [
            recipeVersion,
            "target \(target.name)",
            "base \(try Checksum.parse(target.baseImage.checksum))",
            "playbook \(target.playbook)",
            "playbook-tree \(try TreeHash.sha256(directory: playbookDir))",
            "groups \(target.groups.joined(separator: ","))",
            "disk \(target.diskSizeGiB.map(String.init) ?? "base")",
            "compression \(target.compression.rawValue)",
            "ssh-user \(target.sshUser)",
            "munge-key \(target.mungeKey.map { FileManager.default.contents(atPath: $0).map(secret.digest) ?? "unreadable" } ?? "none")",
            "seed \(options.seed.rawValue)",
            "cloud-init \(Hashing.sha256(of: Data(try UserDataTemplate.load(explicit: target.cloudInit, projectDirectory: options.projectDirectory).utf8)))",
            // An image counts as built only as it was proven: other test checks, or none, build again.
            "test \(options.skipTest ? "skipped" : Hashing.sha256(of: try JSONEncoder.sorted.encode(target.test)))",
        ]
        lines += target.extraVars.sorted { $0.key < $1.key }.map { "var \($0.key)=\(secret.digest(Data($0.value.utf8)))" }
        lines += options.secretVars.values.sorted { $0.key < $1.key }.map { "secret-var \($0.key)=\(secret.digest(Data($0.value.utf8)))" }
        lines += try target.varFiles.map { "var-file \($0) \(try Hashing.sha256(ofFile: $0))" }
        lines += options.extraInventories.map { "inventory \($0) \((try? Hashing.sha256(ofFile: $0)) ?? "unreadable")" }
        return Hashing.sha256(of: Data(lines.joined(separator: "\n").utf8))
    }
}

extension JSONEncoder {
    /// Same value, same bytes: for hashing.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

/// The warm-cache short cut: the newest published build of a target, when its inputs are the
/// ones given now and its image is still intact.
public enum UpToDateBuild {
    public static func find(target: Target, options: BuildOptions) throws -> Builder.Result? {
        if case .upToDate(let result) = try decide(target: target, options: options) { return result }
        return nil
    }

    /// Whether a build would run, and why (`--dry-run`): for CI pipelines that rebuild on change.
    public enum Decision: Sendable {
        case upToDate(Builder.Result)
        case build(reason: String)
    }

    public static func decide(target: Target, options: BuildOptions) throws -> Decision {
        let link = "\(options.buildDirectory)/\(target.name)-latest"
        guard let name = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else {
            return .build(reason: "no published build of \(target.name) in \(options.buildDirectory)")
        }
        let paths = BuildPaths(root: options.buildDirectory + "/" + name, name: name)
        guard let manifest = try? Manifest.load(paths.manifest) else { return .build(reason: "\(name) has no readable manifest") }
        guard manifest.inputsSha256 == (try InputsFingerprint.compute(target: target, options: options)) else {
            return .build(reason: "the inputs changed since \(name) (target, playbook tree, base image, munge key, vars, cloud-init, tests or kvmbuild's recipe)")
        }
        // Asked for the cluster test: only an image that passed it counts (one that passed it
        // also counts when not asked: it was proven more).
        guard !options.testCluster || manifest.testCluster?.passed == true else {
            return .build(reason: "\(name) was not proven in a Slurm cluster (--test-cluster)")
        }
        guard FileManager.default.fileExists(atPath: manifest.image.path), (try? Hashing.sha256(ofFile: manifest.image.path)) == manifest.image.sha256 else {
            return .build(reason: "\(name)'s image is missing or no longer matches its sha256")
        }
        return .upToDate(Builder.Result(paths: paths, export: manifest.image, manifest: manifest))
    }
}
