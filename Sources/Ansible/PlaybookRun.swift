import Foundation
import KVMBuildSupport

/// One `ansible-playbook` invocation against the build guest.
public struct PlaybookRun: Sendable {
    public var playbook: String
    /// The generated inventory first, then any the user adds.
    public var inventories: [String]
    public var extraVars: [String: String]
    public var varFiles: [String]
    public var limit: String?
    public var vaultPasswordFile: String?
    public var logPath: String

    public init(playbook: String, inventories: [String], extraVars: [String: String] = [:], varFiles: [String] = [],
                limit: String? = "builder", vaultPasswordFile: String? = nil, logPath: String) {
        self.playbook = playbook
        self.inventories = inventories
        self.extraVars = extraVars
        self.varFiles = varFiles
        self.limit = limit
        self.vaultPasswordFile = vaultPasswordFile
        self.logPath = logPath
    }

    public func processSpec(colour: Bool) throws -> ProcessSpec {
        var args: [String] = []
        for inventory in inventories { args += ["-i", inventory] }
        if let limit { args += ["--limit", limit] }
        if !extraVars.isEmpty {
            let json = try JSONSerialization.data(withJSONObject: extraVars, options: [.sortedKeys])
            args += ["--extra-vars", String(decoding: json, as: UTF8.self)]
        }
        for file in varFiles { args += ["--extra-vars", "@\(file)"] }
        if let vaultPasswordFile { args += ["--vault-password-file", vaultPasswordFile] }
        args.append(playbook)
        let playbookDir = URL(fileURLWithPath: playbook).deletingLastPathComponent().path
        var env = ["ANSIBLE_FORCE_COLOR": colour ? "1" : "0", "ANSIBLE_NOCOLOR": colour ? "0" : "1",
                   "PYTHONUNBUFFERED": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"]
        let cfg = playbookDir + "/ansible.cfg"
        if FileManager.default.fileExists(atPath: cfg) { env["ANSIBLE_CONFIG"] = cfg }
        return ProcessSpec("ansible-playbook", args, environment: env, workingDirectory: playbookDir)
    }

    /// Runs the play, streaming every line to `echo` and to the log file. Returns the exit code.
    public func run(colour: Bool, echo: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw KVMBuildError(.io, "cannot write \(logPath)", fix: "check the build folder's permissions")
        }
        defer { try? log.close() }
        let spec = try processSpec(colour: colour)
        log.write(Data("$ \(spec)\n".utf8))
        return try await ProcessRunner.stream(spec) { line in
            log.write(Data((line + "\n").utf8))
            echo(line)
        }
    }

    /// `ansible-playbook --syntax-check`: fails fast on a broken play before a guest boots.
    public func syntaxCheck() async throws {
        var spec = try processSpec(colour: false)
        spec.arguments.insert("--syntax-check", at: 0)
        // No real inventory is needed to parse the play.
        spec.arguments = spec.arguments.enumerated().filter { index, arg in
            !(arg == "-i" || (index > 0 && spec.arguments[index - 1] == "-i") || arg == "--limit" || (index > 0 && spec.arguments[index - 1] == "--limit"))
        }.map(\.element)
        spec.arguments.insert(contentsOf: ["-i", "localhost,"], at: 0)
        let result = try await ProcessRunner.run(spec)
        guard result.succeeded else {
            let detail = (result.stderr + result.stdout).split(separator: "\n").filter { $0.contains("ERROR") }.first.map(String.init)
                ?? "syntax check failed"
            throw KVMBuildError(.invalidInput, "playbook \(playbook) does not parse: \(detail)", fix: "fix the playbook (ansible-playbook --syntax-check)")
        }
    }
}
