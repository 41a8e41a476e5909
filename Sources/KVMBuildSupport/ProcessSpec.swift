import Foundation

/// A subprocess to run: a value that can be built, logged and passed between tasks.
public struct ProcessSpec: Sendable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    /// Added to (and overriding) the parent's environment.
    public var environment: [String: String]
    public var workingDirectory: String?

    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String] = [:], workingDirectory: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    public var description: String { ([executable] + arguments).joined(separator: " ") }

    /// Absolute path of the executable, searched on PATH like a shell would.
    public func resolvedExecutable() throws -> String {
        if executable.contains("/") { return executable }
        if let path = Self.which(executable) { return path }
        throw KVMBuildError(.toolMissing, "\(executable) not found on PATH", fix: "run scripts/setup-host.sh to install the host tools")
    }

    public static func which(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

public struct ProcessResult: Sendable {
    public let exitCode: Int32
    public let stdout: String
    public let stderr: String
    public var succeeded: Bool { exitCode == 0 }

    public init(exitCode: Int32, stdout: String, stderr: String) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}
