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

    /// The part of a URL safe to print: without its query (a signed mirror URL or a token) and
    /// without a `user:password@`.
    public static func url(_ url: String) -> String {
        var text = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        if let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@"),
           !text[scheme.upperBound..<at].contains("/") {
            text.replaceSubrange(scheme.upperBound...at, with: "")
        }
        return text
    }
}
