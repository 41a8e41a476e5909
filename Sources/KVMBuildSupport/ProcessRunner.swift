import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs subprocesses. Cancelling the calling task terminates the child (SIGTERM, then SIGKILL),
/// so an interrupted build never leaves a qemu-img or ansible-playbook running.
public enum ProcessRunner {
    /// Runs to completion and captures both output streams.
    public static func run(_ spec: ProcessSpec, stdin input: Data? = nil) async throws -> ProcessResult {
        let process = try makeProcess(spec)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let inPipe = input.map { _ in Pipe() }
        process.standardInput = inPipe ?? FileHandle.nullDevice
        let collector = OutputCollector()
        // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
        let outDone = collector.drain(out.fileHandleForReading, into: .stdout)
        let errDone = collector.drain(err.fileHandleForReading, into: .stderr)
        let code = try await execute(process) {
            if let inPipe, let input {
                inPipe.fileHandleForWriting.write(input)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        outDone.wait()
        errDone.wait()
        return ProcessResult(exitCode: code, stdout: collector.text(.stdout), stderr: collector.text(.stderr))
    }

    /// Runs with stdout and stderr merged and delivered line by line as they arrive.
    public static func stream(_ spec: ProcessSpec, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        let process = try makeProcess(spec)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let reader = pipe.fileHandleForReading
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
            done.signal()
        }
        let code = try await execute(process) {}
        done.wait()
        return code
    }

    /// Runs and throws a KVMBuildError naming the command and its stderr when it fails.
    @discardableResult
    public static func checked(_ spec: ProcessSpec, fix: String? = nil) async throws -> ProcessResult {
        let result = try await run(spec)
        guard result.succeeded else {
            let detail = result.stderr.split(separator: "\n").last.map(String.init) ?? "no output"
            throw KVMBuildError(.processFailed, "\(URL(fileURLWithPath: spec.executable).lastPathComponent) exited \(result.exitCode): \(detail)", fix: fix)
        }
        return result
    }

    // MARK: -

    private static func makeProcess(_ spec: ProcessSpec) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try spec.resolvedExecutable())
        process.arguments = spec.arguments
        if !spec.environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(spec.environment) { _, new in new }
        }
        if let dir = spec.workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: dir) }
        return process
    }

    private static func execute(_ process: Process, afterLaunch: () throws -> Void) async throws -> Int32 {
        let exit = ExitBox()
        process.terminationHandler = { exit.finish($0.terminationStatus) }
        try Task.checkCancellation()
        try process.run()
        try afterLaunch()
        let pid = process.processIdentifier
        return try await withTaskCancellationHandler {
            let code = await exit.value()
            if Task.isCancelled { throw CancellationError() }
            return code
        } onCancel: {
            terminate(pid: pid, exit: exit)
        }
    }

    /// SIGTERM, and SIGKILL if the child is still there after a grace period.
    private static func terminate(pid: pid_t, exit: ExitBox) {
        kill(pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
            if !exit.isFinished { kill(pid, SIGKILL) }
        }
    }
}

/// Delivers a child's exit status once, to whoever waits for it.
private final class ExitBox: @unchecked Sendable {
    private let lock = NSLock()
    private var status: Int32?
    private var waiter: CheckedContinuation<Int32, Never>?

    var isFinished: Bool { lock.withLock { status != nil } }

    func finish(_ code: Int32) {
        let waiter: CheckedContinuation<Int32, Never>? = lock.withLock {
            status = code
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume(returning: code)
    }

    func value() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready: Int32? = lock.withLock {
                if let status { return status }
                waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

private final class OutputCollector: @unchecked Sendable {
    enum Stream: Sendable { case stdout, stderr }
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()

    func drain(_ handle: FileHandle, into stream: Stream) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let data = handle.readDataToEndOfFile()
            self.lock.withLock { if stream == .stdout { self.out.append(data) } else { self.err.append(data) } }
            done.signal()
        }
        return done
    }

    func text(_ stream: Stream) -> String {
        lock.withLock { String(decoding: stream == .stdout ? out : err, as: UTF8.self) }
    }
}
