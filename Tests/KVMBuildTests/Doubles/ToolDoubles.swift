import Ansible
import Foundation
import KVMBuildSupport
import Synchronization
@testable import KVMBuild

/// What the tool doubles were asked to do, in order, across all of them.
final class ToolJournal: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

/// qemu-img: writes small stand-in files where the real one writes disks.
struct ImagesDouble: DiskImageTool {
    let journal: ToolJournal
    var exportExitCode: Int32 = 0
    /// What the secret scan's raw copy contains.
    var rawContent = Data(repeating: 0, count: 64 << 10)

    func createOverlay(_ path: String, backing: String, backingFormat: String, sizeBytes: Int64?) async throws {
        journal.add("qemu-img create overlay")
        _ = FileManager.default.createFile(atPath: path, contents: Data("overlay".utf8))
    }
    func exportCompressed(_ source: String, to destination: String, compression: String, showProgress: Bool) async throws -> Int32 {
        journal.add("qemu-img convert \(compression)")
        _ = FileManager.default.createFile(atPath: destination, contents: Data("half an export".utf8))
        return exportExitCode
    }
    func rawCopy(_ source: String, to destination: String) async throws {
        journal.add("qemu-img raw copy")
        _ = FileManager.default.createFile(atPath: destination, contents: rawContent)
    }
    func check(_ path: String) async throws { journal.add("qemu-img check") }
    func info(_ path: String, format: String) async throws -> QemuImg.Info {
        journal.add("qemu-img info")
        return QemuImg.Info(format: format, virtualSize: 2 << 30, actualSize: 1 << 20, backingFile: nil, hasExternalDataFile: false)
    }
}

/// libguestfs: reports the given checks without opening the disk.
struct SealerDouble: DiskSealer {
    let journal: ToolJournal
    var checks = [ImageChecks.Check(name: "units", passed: true, detail: "munge, slurmd enabled")]

    func sealAndCheck(_ sealer: ImageSealer, _ checks: ImageChecks) async throws -> ImageSealer.Result {
        journal.add("seal \(sealer.buildUser)")
        return ImageSealer.Result(removed: ["/home/\(sealer.buildUser)"], checks: self.checks, mungeKeyOnDisk: nil)
    }
}

/// ssh: sshd answers after `answersAfter` probes (never when nil); each command gets the exit
/// code `exitCodes` gives it (0 otherwise).
final class ShellDouble: GuestShell {
    let journal: ToolJournal
    let answersAfter: Int?
    let exitCodes: [String: Int32]
    private let probes = Mutex(0)

    init(_ journal: ToolJournal, answersAfter: Int? = 0, exitCodes: [String: Int32] = [:]) {
        self.journal = journal
        self.answersAfter = answersAfter
        self.exitCodes = exitCodes
    }

    func answers() -> Bool {
        let probe = probes.withLock { $0 += 1; return $0 }
        return answersAfter.map { probe > $0 } ?? false
    }
    func run(_ command: [String], stdin: Data?, timeout: TimeInterval) async throws -> ProcessResult {
        let line = command.joined(separator: " ")
        journal.add("ssh \(line)")
        let code = exitCodes[line] ?? 0
        return ProcessResult(exitCode: code, stdout: line == "cat /etc/machine-id" ? "0123456789abcdef\n" : "status: \(code == 0 ? "done" : "error")\n", stderr: "")
    }
}

/// ansible-playbook: exits with `exitCode`, or runs until cancelled when `hangs`.
struct PlaybookDouble: PlaybookDriver {
    let journal: ToolJournal
    var exitCode: Int32 = 0
    var hangs = false

    func run(_ play: PlaybookRun, colour: Bool, echo: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        journal.add("ansible-playbook \((play.playbook as NSString).lastPathComponent) --limit \(play.limit ?? "all")")
        if hangs { try await Task.sleep(nanoseconds: 120_000_000_000) }
        return exitCode
    }
}
