import ArgumentParser
import ConfigDrive
import Foundation
import KVMBuild
import KVMBuildSupport

extension OnErrorPolicy: ExpressibleByArgument {}
extension ConfigDriveContent.Flavor: ExpressibleByArgument {}

/// Flags shared by `build` and `compute`; each overrides the target's value from kvmbuild.yml.
struct BuildArguments: ParsableArguments {
    @Option(name: .customLong("file"), help: "Targets file.")
    var targetsFile = TargetsFile.defaultFileName

    @Option(help: "Accelerator: auto (kvm only when it works), kvm, tcg.")
    var accel: AcceleratorRequestArgument = .auto

    @Flag(help: "Use --accel as given even when the host check says it cannot work (debugging).")
    var ignorePreflight = false

    @Option(help: "On a failed phase: cleanup (undo everything), abort (keep the guest for debugging), ask.")
    var onError: OnErrorPolicy = .cleanup

    @Option(help: "Config drive flavour: configdrive (label config-2) or nocloud (label cidata).")
    var seed: ConfigDriveContent.Flavor = .configdrive

    @Option(name: .customLong("authorized-key"), help: "Extra SSH public key (file or key text) for the build user; repeatable.")
    var authorizedKeys: [String] = []

    @Option(help: "Local copy of the cluster's munge key (overrides the target's munge_key).")
    var mungeKey: String?

    @Option(name: .customLong("extra-var"), help: "Ansible variable key=value; repeatable.")
    var extraVars: [String] = []

    @Option(help: "YAML/JSON file of secret Ansible variables (passed as -e @FILE; values redacted from output and proven absent from the image).")
    var secretVarsFile: String?

    @Option(help: "Share build outputs with this group (folders 0750, files 0640) instead of keeping them private to you.")
    var outputGroup: String?

    @Option(name: .customLong("inventory"), help: "Your own inventory, added after the generated one; repeatable.")
    var inventories: [String] = []

    @Option(help: "Ansible vault password file.")
    var vaultPasswordFile: String?

    @Option(help: "Disk size in GiB (default: the base image's).")
    var diskSize: Int?

    @Option(help: "Guest memory in MiB.")
    var memory: Int?

    @Option(help: "Guest vCPUs.")
    var vcpus: Int?

    @Option(help: "Seconds to wait for SSH before failing.")
    var sshTimeout: Double = 20 * 60

    @Option(help: "Seconds of console silence, before sshd answers, that count as a hung boot.")
    var bootWatchdog: Double = 120

    @Flag(help: "Build even when the newest build of the target has the same inputs (with --upload: upload even when Glance has the same image).")
    var force = false

    @Flag(help: "Publish without booting the export as a new instance first (the manifest records that it was not tested).")
    var noTest = false

    @Flag(help: "Say whether a build would run and why (with --json for scripts); build nothing.")
    var dryRun = false

    @Flag(help: "Also prove the image in a Slurm cluster (the target's test.slurm_cluster): a controller and nodes of the image.")
    var testCluster = false

    @Option(help: "What the build guest's apt fetches through: auto (kvmbuild's apt-cacher-ng on 127.0.0.1), off, or http://HOST:PORT (overrides package_cache).")
    var packageCache: String?

    @Flag(help: .hidden)
    var testingOmitBuildKey = false

    /// kvmbuild.yml as named by --file, relative to the working directory (without --file and
    /// without one here: the example an installed kvmbuild ships).
    func loadTargets() throws -> TargetsFile {
        try TargetsFile.load(path: InstalledFiles.targetsFile(targetsFile, defaultName: TargetsFile.defaultFileName, base: Self.workingDirectory))
    }

    static var workingDirectory: URL { URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/") }

    func resolve(targetName: String, host: HostOptions) throws -> (Target, BuildOptions) {
        let file = try loadTargets()
        var target = try file.target(targetName)
        let here = Self.workingDirectory
        if let mungeKey { target.mungeKey = PathExpansion.resolve(mungeKey, base: here) }
        if let diskSize { target.diskSizeGiB = diskSize }
        if let memory { target.memoryMiB = memory }
        if let vcpus { target.vcpus = vcpus }
        if let packageCache { target.packageCache = try PackageCacheSetting(parsing: packageCache) }
        for pair in extraVars {
            guard let eq = pair.firstIndex(of: "=") else {
                throw KVMBuildError(.invalidInput, "--extra-var '\(pair)' is not key=value", fix: "write --extra-var name=value")
            }
            target.extraVars[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }

        var options = BuildOptions(buildDirectory: host.resolvedBuildDir, cacheDirectory: host.resolvedCacheDir,
                                   projectDirectory: URL(fileURLWithPath: file.path).deletingLastPathComponent().path)
        options.libvirtURI = host.libvirtURI
        options.accelerator = AcceleratorRequest(rawValue: accel.rawValue)!
        options.ignorePreflight = ignorePreflight
        options.onError = onError
        options.seed = seed
        options.extraAuthorizedKeys = try authorizedKeys.map { try Self.publicKey($0, base: here) }
        options.sshTimeout = sshTimeout
        options.bootWatchdog = bootWatchdog
        options.extraInventories = inventories.map { PathExpansion.resolve($0, base: here) }
        options.vaultPasswordFile = vaultPasswordFile.map { PathExpansion.resolve($0, base: here) }
        options.omitBuildKey = testingOmitBuildKey
        options.skipTest = noTest
        options.testCluster = testCluster
        if testCluster, noTest { throw KVMBuildError(.invalidInput, "--test-cluster and --no-test contradict each other", fix: "drop one of them") }
        if testCluster, target.test.slurmCluster == nil {
            throw KVMBuildError(.invalidInput, "--test-cluster: target \(target.name) declares no test.slurm_cluster", fix: "add test: slurm_cluster: {nodes: 2} to the target in kvmbuild.yml")
        }
        if let secretVarsFile { options.secretVars = try SecretVars.load(PathExpansion.resolve(secretVarsFile, base: here)) }
        options.outputGroup = outputGroup
        return (target, options)
    }

    /// A key given as a file path or as the key text itself.
    static func publicKey(_ value: String, base: URL) throws -> String {
        if value.hasPrefix("ssh-") || value.hasPrefix("ecdsa-") { return value }
        let path = PathExpansion.resolve(value, base: base)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasPrefix("ssh-") || text.hasPrefix("ecdsa-") else {
            throw KVMBuildError(.invalidInput, "--authorized-key \(value) is neither an SSH public key nor a readable .pub file",
                                fix: "pass e.g. ~/.ssh/id_ed25519.pub")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
