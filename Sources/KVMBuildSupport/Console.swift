import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where people read what kvmbuild is doing: progress and diagnostics on stderr (coloured only
/// on a terminal), results on stdout so scripts can capture them.
public final class Console: Sendable {
    public enum Level: Int, Comparable, Sendable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public static let shared = Console()

    private struct State {
        var minimumLevel: Level = .info
        /// Set once stdout's reader went away: results are dropped from then on (the build's log
        /// files still get everything) instead of SIGPIPE or a trap ending the build mid-phase.
        var stdoutClosed = false
        var stderrClosed = false
    }

    private let state = Mutex(State())
    public var minimumLevel: Level {
        get { state.withLock { $0.minimumLevel } }
        set { state.withLock { $0.minimumLevel = newValue } }
    }
    public let stderrIsTTY: Bool = isatty(STDERR_FILENO) == 1
    public let stdoutIsTTY: Bool = isatty(STDOUT_FILENO) == 1

    public init() {}

    public func debug(_ message: @autoclosure () -> String) { emit(.debug, message()) }
    public func info(_ message: String) { emit(.info, message) }
    public func warning(_ message: String) { emit(.warning, message) }
    public func error(_ message: String) { emit(.error, message) }

    /// A result line for scripts (stdout).
    public func result(_ line: String) { write(line + "\n", toStdout: true) }

    /// Raw text to stderr, e.g. a streamed ansible line.
    public func passthrough(_ line: String) { write(line + "\n", toStdout: false) }

    /// Text without a newline on stderr, e.g. a prompt or a progress bar's carriage return.
    public func prompt(_ text: String) { write(text, toStdout: false) }

    private func write(_ text: String, toStdout: Bool) {
        state.withLock { state in
            if toStdout ? state.stdoutClosed : state.stderrClosed { return }
            let code = SafeWrite.all(Data(text.utf8), to: toStdout ? STDOUT_FILENO : STDERR_FILENO)
            if code != 0 {
                // EPIPE, EIO (a hung-up terminal), ENOSPC: keep building, stop writing there.
                if toStdout { state.stdoutClosed = true } else { state.stderrClosed = true }
            }
        }
    }

    /// Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    public let colour: Bool = isatty(STDERR_FILENO) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty

    private func emit(_ level: Level, _ message: String) {
        guard level >= minimumLevel else { return }
        let (label, color): (String, String) = switch level {
        case .debug: ("debug: ", "\u{1B}[2m")
        case .info: ("", "")
        case .warning: ("warning: ", "\u{1B}[33m")
        case .error: ("error: ", "\u{1B}[31m")
        }
        let text = colour && !color.isEmpty ? "\(color)\(label)\u{1B}[0m\(message)" : "\(label)\(message)"
        write(text + "\n", toStdout: false)
    }
}
