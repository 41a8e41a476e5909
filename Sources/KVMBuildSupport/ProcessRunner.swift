import CShims
import Foundation
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
        return ProcessResult(exitCode: code, stdout: outText.text(), stderr: errText.text())
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
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            // availableData returns what the pipe holds now; read(upToCount:) would wait for a
            // full chunk and turn live output into output at exit.
            while case let chunk = handle.availableData, !chunk.isEmpty {
                if failure.error == nil {
                    do { try onChunk(chunk) } catch { failure.error = error; child.terminate() }
                }
            }
            done.signal()
        }
        let code = try await child.wait()
        done.wait()
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
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?
    private var waiter: CheckedContinuation<Int32, Never>?

    private init(pid: pid_t) { self.pid = pid }

    static func spawn(_ spec: ProcessSpec, stdin: Int32, stdout: Int32, stderr: Int32) throws -> ChildProcess {
        let path = try spec.resolvedExecutable()
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
            child.finish(kvmb_exit_code(status))
        }
        return child
    }

    var isFinished: Bool { lock.withLock { status != nil } }

    /// Waits for the exit code; cancelling the task terminates the child's process group.
    func wait() async throws -> Int32 {
        let code = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                let ready: Int32? = lock.withLock {
                    if let status { return status }
                    waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
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

    private func finish(_ code: Int32) {
        let waiter: CheckedContinuation<Int32, Never>? = lock.withLock {
            status = code
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume(returning: code)
    }
}

/// A pipe whose ends are close-on-exec in this process (the child gets dup2'ed copies).
final class Pipe2: @unchecked Sendable {
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
final class Drain: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ fd: Int32) {
        Thread.detachNewThread {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            self.data = (try? handle.readToEnd()) ?? Data()
            self.done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

private final class LineSplitter: @unchecked Sendable {
    private var pending = Data()
    private let onLine: @Sendable (String) -> Void
    init(onLine: @escaping @Sendable (String) -> Void) { self.onLine = onLine }

    func feed(_ chunk: Data) {
        pending.append(chunk)
        while let newline = pending.firstIndex(of: 0x0A) {
            onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...newline)
        }
    }

    func flush() {
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
        pending.removeAll()
    }
}
