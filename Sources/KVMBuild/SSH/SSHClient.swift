import Foundation
import KVMBuildSupport

/// SSH into a build guest: its own key, its pinned host key, 127.0.0.1 only.
public struct SSHClient: Sendable {
    public let port: Int
    public let user: String
    public let privateKey: String
    public let knownHosts: String

    public init(port: Int, user: String, privateKey: String, knownHosts: String) {
        self.port = port
        self.user = user
        self.privateKey = privateKey
        self.knownHosts = knownHosts
    }

    public var options: [String] {
        [
            "-i", privateKey, "-p", String(port),
            "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "StrictHostKeyChecking=yes",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ]
    }

    /// The line a developer pastes to get into the guest.
    public var commandLine: String { (["ssh"] + options + ["\(user)@127.0.0.1"]).joined(separator: " ") }

    /// ssh joins `command` with spaces into one line for the guest's shell: quote arguments
    /// that hold spaces or shell syntax with `shellQuote`.
    public func spec(_ command: [String], batch: Bool = true, connectTimeout: Int = 10) -> ProcessSpec {
        var args = options
        if batch { args += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(connectTimeout)"] }
        return ProcessSpec("ssh", args + ["\(user)@127.0.0.1", "--"] + command)
    }

    /// Runs a command in the guest; gives up (and kills ssh) after `timeout` seconds.
    public func run(_ command: [String], stdin: Data? = nil, timeout: TimeInterval) async throws -> ProcessResult {
        try await withTimeout(timeout) { try await ProcessRunner.run(spec(command), stdin: stdin) }
    }

    /// One argument as the guest's shell reads it back: 'it'\''s'.
    public static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The line for known_hosts that pins the guest's host key on this forwarded port.
    public static func knownHostsLine(port: Int, publicKey: String) -> String {
        let parts = publicKey.split(separator: " ")
        return "[127.0.0.1]:\(port) \(parts.prefix(2).joined(separator: " "))\n"
    }
}

public struct TimeoutError: Error, Sendable {}

/// Runs `body`, cancelling it after `seconds`.
public func withTimeout<T: Sendable>(_ seconds: TimeInterval, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
