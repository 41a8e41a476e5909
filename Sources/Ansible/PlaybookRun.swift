import Foundation
import KVMBuildSupport

/// One `ansible-playbook` invocation against the build guest.
public struct PlaybookRun: Sendable {
    public var playbook: String
    /// The generated inventory first, then any the user adds.
    public var inventories: [String]
    /// Passed through `extraVarsFile`, never on the command line: they may hold passwords.
    public var extraVars: [String: String]
    /// Where `writeExtraVars` puts them (0600, in the build's private folder).
    public var extraVarsFile: String?
    public var varFiles: [String]
    /// Strings replaced by `********` in every line of the play's output and log (secret vars).
    public var redactions: [String] = []
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
            guard let extraVarsFile else {
                throw KVMBuildError(.internalError, "extra vars need a private file to travel in", fix: "report this kvmbuild bug")
            }
            args += ["--extra-vars", "@\(extraVarsFile)"]
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

    /// Writes `extraVars` as JSON to `extraVarsFile`, created afresh with mode 0600.
    public func writeExtraVars() throws {
        guard !extraVars.isEmpty, let extraVarsFile else { return }
        try SafeWrite.privateFile(extraVarsFile, contents: try JSONSerialization.data(withJSONObject: extraVars, options: [.sortedKeys]))
    }

    /// Runs the play, streaming every line (secrets redacted) to `echo` and to the log file.
    /// Returns the exit code; a log that could not be written fails the run ("disk full").
    public func run(colour: Bool, echo: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        let log = try LogFile(path: logPath)
        try writeExtraVars()
        let spec = try processSpec(colour: colour)
        log.write("$ \(spec)\n")
        let redactions = self.redactions.filter { $0.count >= 4 }
        let code = try await ProcessRunner.stream(spec) { raw in
            let line = redactions.reduce(raw) { $0.replacingOccurrences(of: $1, with: "********") }
            log.write(line + "\n")
            echo(line)
        }
        if let failure = log.failure { throw failure }
        return code
    }

    /// `ansible-playbook --syntax-check`: fails fast on a broken play before a guest boots.
    public func syntaxCheck() async throws {
        var parseOnly = self
        parseOnly.extraVars = [:]  // values do not matter to the parser, and stay off argv
        var spec = try parseOnly.processSpec(colour: false)
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
