import Synchronization

/// Values that must never be printed (secret vars): registered once they are read, masked in
/// `--verbose` command lines and anything else that goes through `apply`.
public enum Redactions {
    private static let values = Mutex<[String]>([])

    /// Values shorter than 4 characters are not masked: they would blank out common words.
    public static func register(_ secrets: some Sequence<String>) {
        let usable = secrets.filter { $0.count >= 4 }
        values.withLock { $0.append(contentsOf: usable) }
    }

    public static func apply(to text: String) -> String {
        values.withLock { $0 }.reduce(text) { $0.replacingOccurrences(of: $1, with: "********") }
    }
}
