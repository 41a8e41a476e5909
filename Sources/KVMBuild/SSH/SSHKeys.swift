import Foundation
import KVMBuildSupport

/// ed25519 key pairs made with ssh-keygen, private halves mode 0600.
enum SSHKeys {
    struct Pair: Sendable {
        let privateKeyPath: String
        let publicKey: String
        var privateKey: String { (try? String(contentsOfFile: privateKeyPath, encoding: .utf8)) ?? "" }
    }

    static func generate(at path: String, comment: String) async throws -> Pair {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".pub")
        try await ProcessRunner.checked(ProcessSpec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]),
                                        fix: "install openssh-client (scripts/setup-host.sh)")
        let publicKey = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return Pair(privateKeyPath: path, publicKey: publicKey)
    }
}

/// A throw-away key pair for verbs outside a build (`kvmbuild test`).
public struct SSHKeyPair: Sendable {
    public let privateKeyPath: String
    public let publicKey: String

    public static func generate(in directory: String, name: String = "id_ed25519") async throws -> SSHKeyPair {
        let pair = try await SSHKeys.generate(at: directory + "/" + name, comment: "kvmbuild-test")
        return SSHKeyPair(privateKeyPath: pair.privateKeyPath, publicKey: pair.publicKey)
    }
}
