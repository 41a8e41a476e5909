import Foundation
import Synchronization

/// A live status line for a long wait (a download, the boot, the seal, an upload). On a terminal
/// it is redrawn in place at most four times a second and erased when done; otherwise (CI logs,
/// a pipe) it becomes a plain line every `plainEvery` seconds, so a log shows the build is alive
/// without flooding it. Quiet below info level.
public final class Progress: Sendable {
    private struct State {
        var lastDraw = Date.distantPast
        var width = 0
    }

    private let console: Console
    private let plainEvery: TimeInterval
    private let state = Mutex(State())

    public init(console: Console = .shared, plainEvery: TimeInterval = 30) {
        self.console = console
        self.plainEvery = plainEvery
    }

    public func update(_ status: String, force: Bool = false) {
        guard console.minimumLevel <= .info else { return }
        let inPlace = console.stderrIsTTY
        state.withLock { state in
            let now = Date()
            guard force || now.timeIntervalSince(state.lastDraw) >= (inPlace ? 0.25 : plainEvery) else { return }
            state.lastDraw = now
            if inPlace {
                let line = String(status.prefix(120))
                console.prompt("\r" + line + String(repeating: " ", count: max(0, state.width - line.count)))
                state.width = line.count
            } else {
                console.info(status)
            }
        }
    }

    /// Erases the in-place line, so the next message starts on a clean one.
    public func finish() {
        state.withLock { state in
            guard state.width > 0 else { return }
            console.prompt("\r" + String(repeating: " ", count: state.width) + "\r")
            state.width = 0
        }
    }

    /// `12.3 MiB`, `1.4 GiB`.
    public static func bytes(_ count: Int64) -> String {
        count >= 1 << 30 ? String(format: "%.1f GiB", Double(count) / Double(1 << 30)) : String(format: "%.1f MiB", Double(count) / Double(1 << 20))
    }

    /// A line of the serial console made printable: escapes and carriage returns dropped, cut short.
    public static func printable(_ line: String, limit: Int = 60) -> String {
        let plain = line.replacingOccurrences(of: "\u{1B}\\[[0-9;]*[A-Za-z]", with: "", options: .regularExpression)
            .filter { $0.isASCII && ($0 == " " || !$0.isWhitespace) && !$0.isNewline }
        return plain.count > limit ? String(plain.prefix(limit - 1)) + "…" : plain
    }
}
