import CShims
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs subprocesses. Each child gets its own process group with signals reset, and cancelling
/// the calling task terminates that whole group (SIGTERM, then SIGKILL after a grace period),
/// so an interrupted build never leaves a qemu-img, ansible-playbook or ssh behind.
public enum ProcessRunner {
    /// Seconds a child gets between SIGTERM and SIGKILL.
    static let terminationGrace: TimeInterval = 5

    /// Runs to completion and captures both output streams.
    public static func run(_ spec: ProcessSpec, stdin input: Data? = nil) async throws -> ProcessResult {
        let out = try Pipe2(), err = try Pipe2()
        let inPipe = try input.map { _ in try Pipe2() }
        let child = try ChildProcess.spawn(spec, stdin: inPipe?.read ?? DevNull.fd, stdout: out.write, stderr: err.write)
        out.closeWrite(); err.closeWrite(); inPipe?.closeRead()
        let outText = Drain(out.takeRead()), errText = Drain(err.takeRead())
        if let inPipe, let input {
            let fd = inPipe.takeWrite()
            Thread.detachNewThread {
                let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                try? handle.write(contentsOf: input)
                try? handle.close()
            }
        }
        let code = try await child.wait()
        return ProcessResult(exitCode: code, stdout: await outText.text(), stderr: await errText.text())
    }

    /// Runs with stdout and stderr merged and delivered line by line as they arrive.
    public static func stream(_ spec: ProcessSpec, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        let splitter = LineSplitter(onLine: onLine)
        let code = try await streamBytes(spec, mergeStderr: true) { splitter.feed($0) }
        splitter.flush()
        return code
    }

    /// Runs and hands stdout to `onChunk` as raw bytes (stderr too when `mergeStderr`, else it goes to ours).
    public static func streamBytes(_ spec: ProcessSpec, mergeStderr: Bool = false,
                                   onChunk: @escaping @Sendable (Data) throws -> Void) async throws -> Int32 {
        let out = try Pipe2()
        let child = try ChildProcess.spawn(spec, stdin: DevNull.fd, stdout: out.write, stderr: mergeStderr ? out.write : STDERR_FILENO)
        out.closeWrite()
        let fd = out.takeRead()
        let failure = FailureBox()
        let done = Completion<Bool>()
        Thread.detachNewThread {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            // availableData returns what the pipe holds now; read(upToCount:) would wait for a
            // full chunk and turn live output into output at exit.
            while case let chunk = handle.availableData, !chunk.isEmpty {
                if failure.error == nil {
                    do { try onChunk(chunk) } catch { failure.error = error; child.terminate() }
                }
            }
            done.complete(true)
        }
        let code = try await child.wait()
        // The reader ends at EOF, which the child's exit (and its group's) brings.
        _ = await done.value()
        if let error = failure.error { throw error }
        return code
    }

    /// Runs with the child's output going straight to our stderr (progress bars stay live).
    public static func runInheritingOutput(_ spec: ProcessSpec) async throws -> Int32 {
        try await ChildProcess.spawn(spec, stdin: DevNull.fd, stdout: STDERR_FILENO, stderr: STDERR_FILENO).wait()
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
}

/// A spawned child and its process group.
final class ChildProcess: Sendable {
    let pid: pid_t
    private let exit = Completion<Int32>()

    private init(pid: pid_t) { self.pid = pid }

    static func spawn(_ spec: ProcessSpec, stdin: Int32, stdout: Int32, stderr: Int32) throws -> ChildProcess {
        let path = try spec.resolvedExecutable()
        // --verbose: every command. Secrets travel in 0600 files and on stdin, never on argv; the
        // values kvmbuild knows to be secret are masked here all the same.
        Console.shared.debug("$ \(Redactions.apply(to: spec.description))")
        let env = ProcessInfo.processInfo.environment.merging(spec.environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        let argv = ([path] + spec.arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = kvmb_spawn(path, argv, envp, spec.workingDirectory, stdin, stdout, stderr, &pid)
        guard rc == 0 else {
            throw KVMBuildError(.processFailed, "cannot start \(path): \(String(cString: strerror(rc)))", fix: "check that it is installed and executable")
        }
        let child = ChildProcess(pid: pid)
        let childPID = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(childPID, &status, 0) == -1 && errno == EINTR {}
            child.exit.complete(kvmb_exit_code(status))
        }
        return child
    }

    var isFinished: Bool { exit.isComplete }

    /// Waits for the exit code; cancelling the task terminates the child's process group.
    func wait() async throws -> Int32 {
        let code = await withTaskCancellationHandler {
            await exit.value()
        } onCancel: {
            terminate()
        }
        if Task.isCancelled { throw CancellationError() }
        return code
    }

    /// SIGTERM to the group, SIGKILL to whatever of it is left after the grace period.
    func terminate() {
        kill(-pid, SIGTERM)
        let pid = self.pid
        DispatchQueue.global().asyncAfter(deadline: .now() + ProcessRunner.terminationGrace) { kill(-pid, SIGKILL) }
    }
}

/// A pipe whose ends are close-on-exec in this process (the child gets dup2'ed copies).
/// Used by one task only: not Sendable.
final class Pipe2 {
    private(set) var read: Int32
    private(set) var write: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        let rc = kvmb_pipe_cloexec(&fds)
        guard rc == 0 else { throw KVMBuildError(.io, "pipe2: \(String(cString: strerror(rc)))") }
        read = fds[0]
        write = fds[1]
    }

    func closeWrite() { if write >= 0 { close(write); write = -1 } }
    func closeRead() { if read >= 0 { close(read); read = -1 } }
    /// Hands the read end to a new owner (who closes it).
    func takeRead() -> Int32 { defer { read = -1 }; return read }
    func takeWrite() -> Int32 { defer { write = -1 }; return write }

    deinit { closeRead(); closeWrite() }
}

enum DevNull {
    static let fd: Int32 = open("/dev/null", O_RDWR | O_CLOEXEC)
}

/// Reads a descriptor to EOF on its own thread, so a chatty child never blocks on a full pipe.
final class Drain: Sendable {
    private let data = Completion<Data>()

    init(_ fd: Int32) {
        Thread.detachNewThread { [data] in
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            data.complete((try? handle.readToEnd()) ?? Data())
        }
    }

    func text() async -> String { String(decoding: await data.value(), as: UTF8.self) }
}

/// A value that arrives once, from any thread, and that any number of tasks await without
/// blocking a thread of the cooperative pool (where a semaphore wait could starve it).
public final class Completion<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value, Never>] = []
    }
    private let state = Mutex(State())

    public init() {}

    public var isComplete: Bool { state.withLock { $0.value != nil } }

    /// The first call wins; later ones are ignored.
    public func complete(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>] = state.withLock { state in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume(returning: value) }
    }

    public func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = state.withLock { state in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

private final class FailureBox: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    var error: (any Error)? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}

private final class LineSplitter: Sendable {
    private let pending = Mutex(Data())
    private let onLine: @Sendable (String) -> Void
    init(onLine: @escaping @Sendable (String) -> Void) { self.onLine = onLine }

    func feed(_ chunk: Data) {
        let lines: [String] = pending.withLock { pending in
            pending.append(chunk)
            var lines: [String] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
            return lines
        }
        lines.forEach(onLine)
    }

    func flush() {
        let rest: Data = pending.withLock { pending in defer { pending.removeAll() }; return pending }
        if !rest.isEmpty { onLine(String(decoding: rest, as: UTF8.self)) }
    }
}
