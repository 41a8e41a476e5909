import Foundation

/// Every file of one build lives under `build/<name>/`; the secrets under it are deleted at the end.
public struct BuildPaths: Sendable, Codable {
    public let root: String
    public let name: String

    public init(root: String, name: String) {
        self.root = root
        self.name = name
    }

    public var state: String { root + "/state.json" }
    public var overlay: String { root + "/disk.qcow2" }
    public var configDrive: String { root + "/config-drive.iso" }
    /// Everything private to a running build (0700, removed when it ends): SSH keys, the pinned
    /// host key, ssh's control socket, the extra vars handed to ansible-playbook.
    public var privateDirectory: String { root + "/private" }
    public var buildKey: String { privateDirectory + "/build_key" }
    public var hostKey: String { privateDirectory + "/host_key" }
    public var knownHosts: String { privateDirectory + "/known_hosts" }
    /// ansible-playbook's --extra-vars, as a 0600 file: values never reach argv (ps) or logs.
    public var extraVarsFile: String { privateDirectory + "/extra-vars.json" }
    /// ssh's ControlPath inside the private folder, where no other user can plant a socket; %p
    /// (the build's own port) keeps it short. Unix socket paths are limited to 108 bytes and ssh
    /// adds a 17-byte suffix while it sets the master up: nil when the folder is too deep.
    public var controlPath: String? {
        let path = privateDirectory + "/cm-%p"
        return path.utf8.count + 5 + 17 < 108 ? path : nil
    }
    /// The test instance's overlay and seed (removed with it) and what stays of it.
    public var testDirectory: String { root + "/test-instance" }
    public var testConsoleLog: String { root + "/test-console.log" }
    public var testAnsibleLog: String { root + "/test-ansible.log" }
    /// The cluster test's guests and switch; only its logs/ stay after the test.
    public var testClusterDirectory: String { root + "/test-cluster" }
    /// What a cluster test that did not end cleanly left besides its logs (overlays, seeds with
    /// the munge key, the switch's folder): `kvmbuild clean` removes these.
    public var testClusterLeftovers: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: testClusterDirectory)) ?? []).filter { $0 != "logs" }.map { testClusterDirectory + "/" + $0 }
    }
    /// The sparse raw copy of the export that the secret scan reads; deleted right after.
    public var scanCopy: String { root + "/scan.raw" }
    public var inventory: String { root + "/inventory.ini" }
    public var consoleLog: String { root + "/console.log" }
    public var ansibleLog: String { root + "/ansible.log" }
    public var image: String { root + "/\(name).qcow2" }
    public var imagePartial: String { image + ".partial" }
    public var imageChecksum: String { image + ".sha256" }
    public var manifest: String { root + "/manifest.json" }

    /// Files that must never outlive a build, whatever its outcome.
    public var secrets: [String] { [configDrive, privateDirectory, inventory, scanCopy, testDirectory] }
}
