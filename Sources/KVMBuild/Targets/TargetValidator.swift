import Ansible
import Foundation
import KVMBuildSupport

/// Checks a target's inputs without building, and reports every problem at once.
public struct TargetValidator: Sendable {
    public let target: Target
    public let options: BuildOptions

    public init(target: Target, options: BuildOptions) {
        self.target = target
        self.options = options
    }

    /// munged refuses keys outside these bounds.
    public static let mungeKeySizes = 32...1024

    /// Target and output names become folder and file names under build/ and image names in
    /// Glance: no slashes, no leading dot or dash, nothing a shell or a path would read twice.
    public static func isSafeName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 200 else { return false }
        func plain(_ c: Unicode.Scalar) -> Bool { c.isASCII && (CharacterSet.alphanumerics.contains(c)) }
        return plain(first) && name.unicodeScalars.allSatisfy { plain($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    public func problems() async -> [KVMBuildError] {
        var problems: [KVMBuildError] = []
        let fm = FileManager.default

        if !Self.isSafeName(target.name) {
            problems.append(KVMBuildError(.invalidInput, "target name '\(target.name)' is not allowed",
                                          fix: "use letters, digits, '.', '_' and '-', starting with a letter or digit"))
        }
        let rendered = BuildFolder.name(pattern: target.outputName, target: target.name, id: "0123abcd", gitSha: "0123abc")
        if !Self.isSafeName(rendered) {
            problems.append(KVMBuildError(.invalidInput, "output_name '\(target.outputName)' renders as '\(rendered)', which is not a safe file name",
                                          fix: "use letters, digits, '.', '_', '-' and {target} {yymmdd} {hhmm} {gitsha} {id}"))
        }
        if let group = options.outputGroup {
            do { _ = try BuildFolder.groupID(group) } catch let error as KVMBuildError { problems.append(error) } catch {}
        }
        if let file = options.secretVars.file {
            let short = options.secretVars.tooShortToScan
            if !short.isEmpty { Console.shared.warning("secret vars \(short.joined(separator: ", ")) in \(file) are too short for the image's secret scan to tell from chance matches") }
        }

        let source = target.baseImage.source
        if !source.hasPrefix("http://") && !source.hasPrefix("https://") {
            let path = source.hasPrefix("file://") ? String(source.dropFirst(7)) : source
            if !fm.fileExists(atPath: path) {
                problems.append(KVMBuildError(.notFound, "base image \(path) not found",
                                              fix: path.contains("/base/debian-12-kvmbuild") ? "run scripts/build-base-image.sh to build the embedded default"
                                                                                              : "fix base_image.source in kvmbuild.yml"))
            }
        }
        do { _ = try Checksum.parse(target.baseImage.checksum) } catch let error as KVMBuildError { problems.append(error) } catch {}

        if !fm.fileExists(atPath: target.playbook) {
            problems.append(KVMBuildError(.notFound, "playbook \(target.playbook) not found", fix: "fix playbook in kvmbuild.yml"))
        } else {
            let run = PlaybookRun(playbook: target.playbook, inventories: [], extraVars: target.extraVars,
                                  varFiles: target.varFiles, limit: nil, logPath: "/dev/null")
            do { try await run.syntaxCheck() } catch let error as KVMBuildError { problems.append(error) } catch {
                problems.append(KVMBuildError(.invalidInput, "cannot check the playbook's syntax: \(error)", fix: "run scripts/setup-host.sh to install ansible"))
            }
        }
        for file in target.varFiles where !fm.fileExists(atPath: file) {
            problems.append(KVMBuildError(.notFound, "var file \(file) not found", fix: "fix var_files in kvmbuild.yml"))
        }
        if let key = target.mungeKey {
            problems += Self.mungeKeyProblems(key)
        }
        if let size = target.diskSizeGiB, size <= 0 {
            problems.append(KVMBuildError(.invalidInput, "disk_size_gib must be positive, got \(size)", fix: "fix disk_size_gib"))
        }
        if target.memoryMiB < 512 {
            problems.append(KVMBuildError(.invalidInput, "memory_mib \(target.memoryMiB) is too small for cloud-init", fix: "use at least 512"))
        }
        if !target.sshUser.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" }) || target.sshUser.isEmpty {
            problems.append(KVMBuildError(.invalidInput, "ssh_user '\(target.sshUser)' is not a valid user name", fix: "use lowercase letters, digits, - and _"))
        }
        if let play = target.test.playbook, !fm.fileExists(atPath: play) {
            problems.append(KVMBuildError(.notFound, "test playbook \(play) not found", fix: "fix test.playbook in kvmbuild.yml"))
        }
        if let template = target.cloudInit, !fm.fileExists(atPath: template) {
            problems.append(KVMBuildError(.notFound, "cloud-init template \(template) not found", fix: "fix cloud_init in kvmbuild.yml, or drop it to use kvmbuild's own"))
        }
        if let cluster = target.test.slurmCluster {
            if !(1...8).contains(cluster.nodes) {
                problems.append(KVMBuildError(.invalidInput, "test.slurm_cluster.nodes of target \(target.name) is \(cluster.nodes)", fix: "use 1 to 8 nodes"))
            }
            if cluster.controllerNames.isEmpty || !cluster.controllerNames.allSatisfy(SlurmClusterTest.isHostname) {
                problems.append(KVMBuildError(.invalidInput, "test.slurm_cluster.controller_names of target \(target.name) must be host names",
                                              fix: "list the names the image's slurmd and fstab use for the controller, e.g. [slurm-control, nfs-server]"))
            }
            if target.mungeKey == nil {
                problems.append(KVMBuildError(.invalidInput, "target \(target.name) has test.slurm_cluster but no munge_key", fix: "add munge_key: the controller needs the cluster's key"))
            }
        }
        for command in target.test.commands where command.run.trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append(KVMBuildError(.invalidInput, "a test command of target \(target.name) is empty", fix: "give each test.commands entry a run: line"))
        }
        for inventory in options.extraInventories where !fm.fileExists(atPath: inventory) {
            problems.append(KVMBuildError(.notFound, "inventory \(inventory) not found", fix: "fix --inventory"))
        }
        if let vault = options.vaultPasswordFile, !fm.isReadableFile(atPath: vault) {
            problems.append(KVMBuildError(.notFound, "vault password file \(vault) not readable", fix: "fix --vault-password-file"))
        }
        return problems
    }

    static func mungeKeyProblems(_ path: String) -> [KVMBuildError] {
        guard let data = FileManager.default.contents(atPath: path) else {
            return [KVMBuildError(.notFound, "munge key \(path) is missing or unreadable",
                                  fix: "copy the cluster's /etc/munge/munge.key there, or pass --munge-key PATH (test key: scripts/make-test-munge-key.sh)")]
        }
        guard mungeKeySizes.contains(data.count) else {
            return [KVMBuildError(.invalidInput, "munge key \(path) is \(data.count) bytes; munge needs 32 to 1024",
                                  fix: "use the cluster's real key (create-munge-key makes 1024 bytes)")]
        }
        return []
    }
}
