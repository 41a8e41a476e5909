import Foundation

/// The serial console as virtlogd writes it.
struct ConsoleLog {
    let path: String

    var size: Int { ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0 }

    /// The last `lines` lines, printable characters only.
    func tail(_ lines: Int = 30) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "(no console output)" }
        let text = String(decoding: data.suffix(64 << 10), as: UTF8.self)
            .replacingOccurrences(of: "\r", with: "")
            .unicodeScalars.filter { $0 == "\n" || ($0.value >= 0x20 && $0.value != 0x7F) }
        let all = String(String.UnicodeScalarView(text)).split(separator: "\n", omittingEmptySubsequences: true)
        if all.isEmpty { return "(no console output)" }
        return all.suffix(lines).map { "  console| \($0)" }.joined(separator: "\n")
    }
}
