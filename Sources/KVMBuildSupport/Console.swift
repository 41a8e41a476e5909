import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where people read what kvmbuild is doing: progress and diagnostics on stderr (coloured only
/// on a terminal), results on stdout so scripts can capture them.
public final class Console: @unchecked Sendable {
    public enum Level: Int, Comparable, Sendable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public static let shared = Console()

    private let lock = NSLock()
    public var minimumLevel: Level = .info
    public let stderrIsTTY: Bool = isatty(STDERR_FILENO) == 1
    public let stdoutIsTTY: Bool = isatty(STDOUT_FILENO) == 1

    public init() {}

    public func debug(_ message: @autoclosure () -> String) { emit(.debug, message()) }
    public func info(_ message: String) { emit(.info, message) }
    public func warning(_ message: String) { emit(.warning, message) }
    public func error(_ message: String) { emit(.error, message) }

    /// A result line for scripts (stdout).
    public func result(_ line: String) {
        lock.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    /// Raw text to stderr, e.g. a streamed ansible line.
    public func passthrough(_ line: String) {
        lock.withLock { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    private func emit(_ level: Level, _ message: String) {
        guard level >= minimumLevel else { return }
        let (label, color): (String, String) = switch level {
        case .debug: ("debug: ", "\u{1B}[2m")
        case .info: ("", "")
        case .warning: ("warning: ", "\u{1B}[33m")
        case .error: ("error: ", "\u{1B}[31m")
        }
        let text = stderrIsTTY && !color.isEmpty ? "\(color)\(label)\u{1B}[0m\(message)" : "\(label)\(message)"
        lock.withLock { FileHandle.standardError.write(Data((text + "\n").utf8)) }
    }
}
