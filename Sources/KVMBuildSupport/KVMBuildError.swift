/// The one error type users see: what went wrong, what to do about it, and what caused it.
/// Printed as a single line: `error: <message> — <fix>`.
public struct KVMBuildError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case invalidInput, notFound, toolMissing, hostUnfit, libvirt, guestfs
        case checksumMismatch, timeout, bootStalled, sshFailed, provisionFailed
        case processFailed, interrupted, verifyFailed, secretLeak, testFailed, io, internalError
    }

    public let code: Code
    public let message: String
    /// The action that fixes it, phrased for the user ("run scripts/setup-host.sh").
    public let fix: String?
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, fix: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.fix = fix
        self.cause = cause
    }

    public var description: String {
        var line = message
        if let cause { line += ": \(cause)" }
        if let fix { line += " — \(fix)" }
        // One line, always: multi-line causes (console tails) are printed separately by callers.
        return line.replacingOccurrences(of: "\n", with: " ")
    }
}
