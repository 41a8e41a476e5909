import Foundation
import KVMBuildSupport
import Yams

/// Ansible variables the user marks secret by putting them in a file of their own
/// (`--secret-vars-file`, YAML or JSON, like a `-e @file`): ansible-playbook reads the file
/// itself, so the values are never on a command line; kvmbuild reads them only to redact them from
/// the play's output and to prove the image does not carry them.
public struct SecretVars: Sendable, Equatable {
    public var file: String?
    /// name → value, flattened (a nested mapping's leaves are named `outer.inner`).
    public var values: [String: String] = [:]

    public init() {}

    public static func load(_ path: String) throws -> SecretVars {
        var st = stat()
        guard stat(path, &st) == 0, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw KVMBuildError(.notFound, "secret vars file \(path) not readable", fix: "fix --secret-vars-file")
        }
        if st.st_mode & 0o077 != 0 {
            Console.shared.warning("secret vars file \(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        let parsed: Any?
        do { parsed = try Yams.load(yaml: text) } catch {
            throw KVMBuildError(.invalidInput, "secret vars file \(path) is not YAML or JSON", fix: "write it as name: value lines")
        }
        guard let mapping = parsed as? [String: Any] else {
            throw KVMBuildError(.invalidInput, "secret vars file \(path) is not a mapping of names to values", fix: "write it as name: value lines")
        }
        var vars = SecretVars()
        vars.file = path
        flatten(mapping, prefix: "", into: &vars.values)
        Redactions.register(vars.values.values)
        return vars
    }

    private static func flatten(_ value: Any, prefix: String, into out: inout [String: String]) {
        if let mapping = value as? [String: Any] {
            for (key, inner) in mapping { flatten(inner, prefix: prefix.isEmpty ? key : "\(prefix).\(key)", into: &out) }
        } else if let list = value as? [Any] {
            for (index, inner) in list.enumerated() { flatten(inner, prefix: "\(prefix)[\(index)]", into: &out) }
        } else {
            out[prefix] = "\(value)"
        }
    }

    /// What the secret scan seeks; values too short to tell from chance matches are left out
    /// (and `tooShortToScan` names them).
    public var secrets: [InjectedSecret] {
        values.sorted { $0.key < $1.key }.compactMap { InjectedSecret.value($0.value, name: "secret var \($0.key)") }
    }

    public var tooShortToScan: [String] {
        values.filter { InjectedSecret.value($0.value, name: "") == nil }.keys.sorted()
    }
}
