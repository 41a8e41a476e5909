import Foundation

/// Something secret that kvmbuild itself put into the build (or was handed by the user), with
/// the byte strings under which it could be found in an image: the secret as it is, and each
/// encoding in which kvmbuild delivered it (base64 in the user-data, PEM lines of a key).
public struct InjectedSecret: Sendable, Codable, Equatable {
    /// What the user reads in a finding: "munge key (base64, as in the config drive)".
    public let name: String
    /// Distinct pieces of the secret; one found more often than `allowed` is a leak. Several
    /// pieces catch a copy that was partly overwritten.
    public let fragments: [[UInt8]]
    /// How often each fragment may appear: 1 for the munge key, which the image must carry in
    /// /etc/munge/munge.key; 0 for everything else.
    public let allowed: Int
    /// Where on the disk the allowed copies must lie (the data of /etc/munge/munge.key, as the
    /// seal located it). Empty: the place is unknown, and only the count is checked.
    public var allowedRegions: [Range<Int64>] = []

    public init(name: String, fragments: [[UInt8]], allowed: Int = 0) {
        self.name = name
        self.fragments = fragments.filter { !$0.isEmpty }
        self.allowed = allowed
    }

    /// The same secret, allowed only inside `regions` (every copy elsewhere is a leak).
    public func allowed(onlyIn regions: [Range<Int64>]) -> InjectedSecret {
        var copy = self
        copy.allowedRegions = regions
        return copy
    }

    /// Pieces shorter than this match random bytes of a 20 GiB disk too often to mean anything.
    public static let minimumFragmentLength = 16

    /// Fragments of `fragmentLength` bytes every `2 * fragmentLength`, the last one flush with
    /// the end (or the whole value when it is short): any copy of at least three fragment lengths,
    /// wherever it starts, holds one whole fragment.
    public static func spread(_ bytes: [UInt8], fragmentLength: Int = 48) -> [[UInt8]] {
        guard bytes.count > fragmentLength * 3 else { return [bytes] }
        var fragments = stride(from: 0, to: bytes.count - fragmentLength, by: 2 * fragmentLength).map { Array(bytes[$0..<$0 + fragmentLength]) }
        fragments.append(Array(bytes[(bytes.count - fragmentLength)...]))
        return fragments
    }

    public static let mungeKeyRawName = "munge key (raw bytes outside /etc/munge/munge.key)"

    /// The munge key raw (allowed once, in /etc/munge/munge.key when the image carries it) and
    /// base64 as the config drive's write_files delivered it (allowed nowhere).
    public static func mungeKey(_ key: Data, carriedByImage: Bool) -> [InjectedSecret] {
        [
            InjectedSecret(name: mungeKeyRawName, fragments: spread(Array(key), fragmentLength: 32), allowed: carriedByImage ? 1 : 0),
            InjectedSecret(name: "munge key (base64, as in the config drive's user-data)",
                           fragments: spread(Array(key.base64EncodedString().utf8))),
        ]
    }

    /// An OpenSSH private key: every base64 line of its body but the first (which is the same
    /// for every unencrypted key of a type: "openssh-key-v1", cipher none, key count). The
    /// user-data carries the PEM text line by line in a YAML block, so lines are what survives.
    public static func privateKey(_ pem: String, name: String) -> InjectedSecret {
        let body = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") && !$0.isEmpty }
        let lines = body.dropFirst().filter { $0.utf8.count >= minimumFragmentLength }
        return InjectedSecret(name: name, fragments: lines.map { Array($0.utf8) })
    }

    /// A value the user marked secret (a secret vars file). Returns nil when it is too short to
    /// be told apart from chance matches; the caller says so.
    public static func value(_ value: String, name: String) -> InjectedSecret? {
        let bytes = Array(value.utf8)
        guard bytes.count >= minimumFragmentLength / 2 else { return nil }
        return InjectedSecret(name: name, fragments: [bytes])
    }
}
