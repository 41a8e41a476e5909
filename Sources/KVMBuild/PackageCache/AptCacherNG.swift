import Foundation
import KVMBuildSupport

/// kvmbuild's own package cache: Debian's apt-cacher-ng, a caching proxy for apt (and yum/dnf)
/// repositories, started on demand (there is no systemd to start it), bound to 127.0.0.1, and
/// running only while some build uses it. Its config, cache, logs and run files live under
/// `<cache>/package-cache/` (0700): nothing in /etc, nothing shared with a system apt-cacher-ng.
///
/// Builds share one daemon. Each holds a shared flock on `users.lock` while it builds; starts
/// and stops happen under an exclusive `control.lock`, and a release that then finds
/// `users.lock` free (no other build holds it) stops the daemon. A crashed build's flock goes
/// with its process, so the next release, or `kvmbuild clean`, stops a daemon nobody uses.
public struct AptCacherNG: Sendable {
    public let directory: String
    /// Upstream ports the proxy may fetch from; apt-cacher-ng refuses others (403).
    let upstreamPorts: [Int]

    public init(cacheDirectory: String, upstreamPorts: [Int] = [80]) {
        directory = cacheDirectory + "/package-cache"
        self.upstreamPorts = upstreamPorts
    }

    var configDirectory: String { directory + "/conf" }
    var cacheStore: String { directory + "/cache" }
    public var logDirectory: String { directory + "/log" }
    /// `time|I|bytes|client|url` for each fetch from upstream (a miss), `time|O|…` for each
    /// file served (the tests read it: PackageCacheLog).
    public var transferLog: String { logDirectory + "/apt-cacher.log" }
    var runDirectory: String { directory + "/run" }
    var pidFile: String { runDirectory + "/pid" }
    var portFile: String { runDirectory + "/port" }
    var socketPath: String { runDirectory + "/socket" }
    var controlLock: String { directory + "/control.lock" }
    var usersLock: String { directory + "/users.lock" }

    /// apt-cacher-ng's own default port first; the range stays clear of the SSH forwards'.
    static let ports = 3142...3199

    /// In /usr/sbin, which a user's PATH on Debian does not name.
    static var executable: String? {
        ProcessSpec.which("apt-cacher-ng") ?? ProcessSpec.which("/usr/sbin/apt-cacher-ng")
    }

    public static var isInstalled: Bool { executable != nil }

    /// A share of the running daemon, started if none runs.
    public func lease() async throws -> PackageCacheLease {
        try makeDirectories()
        let control = try await runBlocking { [controlLock] in try FileLock.acquire(controlLock, exclusive: true) }
        defer { control?.unlock() }
        let port: Int
        if let running = try await runBlocking({ [self] in runningPort() }) { port = running } else { port = try await start() }
        // Never waits: the exclusive lock on users.lock is only tried, and only under control.lock.
        guard let users = try FileLock.acquire(usersLock, exclusive: false, wait: false) else {
            throw KVMBuildError(.internalError, "\(usersLock) is locked exclusively outside \(controlLock)", fix: "report this kvmbuild bug; package_cache: off builds without the cache")
        }
        return PackageCacheLease(port: port, users: users, cache: self)
    }

    /// Ends `users` (a lease's share) and stops the daemon if no build holds one any more.
    func release(_ users: FileLock) async {
        _ = try? await runBlocking { [self] in
            try underControlLock {
                users.unlock()
                return stopIfUnusedLocked()
            }
        }
    }

    /// `kvmbuild clean`: stops a daemon that no build uses (one a crashed build left). Returns
    /// what it stopped.
    public func stopIfUnused() async -> String? {
        guard FileManager.default.fileExists(atPath: controlLock) else { return nil }
        return (try? await runBlocking { [self] in try underControlLock(stopIfUnusedLocked) }) ?? nil
    }

    /// A daemon of ours that no build holds a share of (what a crashed build leaves until the
    /// next release or `kvmbuild clean`): its PID, else nil. Blocks on control.lock.
    func unusedDaemon() -> pid_t? {
        guard FileManager.default.fileExists(atPath: controlLock) else { return nil }
        return (try? underControlLock { () -> pid_t? in
            guard let probe = try FileLock.acquire(usersLock, exclusive: true, wait: false) else { return nil }
            probe.unlock()
            return daemonPID()
        }) ?? nil
    }

    /// The daemon's port while it is ours and listening; a daemon of ours that does not listen
    /// (it lost its port) is stopped.
    func runningPort() -> Int? {
        guard let pid = daemonPID() else { return nil }
        if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           ProcFS.listens(pid: pid, port: port) {
            return port
        }
        stop(pid)
        return nil
    }

    private func start() async throws -> Int {
        guard let executable = Self.executable else {
            throw KVMBuildError(.toolMissing, "apt-cacher-ng is not installed", fix: "run scripts/setup-host.sh (Debian package apt-cacher-ng), or set package_cache: off")
        }
        removeRunFiles()
        guard let port = Self.ports.first(where: PortReservation.isFree) else {
            throw KVMBuildError(.io, "no free port for the package cache on 127.0.0.1 in \(Self.ports)", fix: "free one, or set package_cache: off")
        }
        try SafeWrite.privateFile(portFile, contents: Data("\(port)\n".utf8))
        // Every setting on the command line: the config folder only has to exist for it.
        try await ProcessRunner.checked(ProcessSpec(executable, [
            "-c", configDirectory, "ForeGround=0", "Port=\(port)", "BindAddress=127.0.0.1", "CacheDir=\(cacheStore)", "LogDir=\(logDirectory)",
            "PidFile=\(pidFile)", "SocketPath=\(socketPath)", "AllowUserPorts=\(upstreamPorts.map(String.init).joined(separator: " "))",
        ]), fix: "see \(logDirectory)/apt-cacher.err, or set package_cache: off")
        // The daemonized child writes its pid file and listens after its parent exits. It keeps
        // running even when the port was taken meanwhile: only its own listening socket counts.
        do {
            for _ in 0..<200 {
                if let pid = daemonPID(), ProcFS.listens(pid: pid, port: port) { return port }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        } catch {
            // Interrupted while it came up: no build holds a share of it, so it goes.
            if let pid = daemonPID() { _ = try? await runBlocking { [self] in stop(pid) } }
            throw error
        }
        if let pid = daemonPID() { _ = try? await runBlocking { [self] in stop(pid) } }
        removeRunFiles()
        let why = (try? String(contentsOfFile: logDirectory + "/apt-cacher.err", encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? "nothing logged"
        throw KVMBuildError(.io, "apt-cacher-ng did not listen on 127.0.0.1:\(port) (\(why))", fix: "see \(logDirectory)/apt-cacher.err, or set package_cache: off")
    }

    /// Runs `body` holding control.lock, waiting for it: off the cooperative pool (runBlocking).
    private func underControlLock<T>(_ body: () throws -> T) throws -> T {
        let control = try FileLock.acquire(controlLock, exclusive: true)
        defer { control?.unlock() }
        return try body()
    }

    /// Caller holds control.lock.
    private func stopIfUnusedLocked() -> String? {
        guard let probe = try? FileLock.acquire(usersLock, exclusive: true, wait: false) else { return nil }
        defer { probe.unlock() }
        guard let pid = daemonPID() else {
            removeRunFiles()
            return nil
        }
        stop(pid)
        return "apt-cacher-ng \(pid) (\(directory))"
    }

    /// SIGTERM (it flushes its log and removes its pid file), waited for up to 5 s.
    private func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        for _ in 0..<100 where isOurs(pid) { usleep(50_000) }
        if isOurs(pid) { kill(pid, SIGKILL) }
        removeRunFiles()
    }

    private func removeRunFiles() {
        for path in [pidFile, portFile, socketPath] { unlink(path) }
    }

    private func makeDirectories() throws {
        let fm = FileManager.default
        for path in [directory, configDirectory, cacheStore, logDirectory, runDirectory] {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let config = configDirectory + "/acng.conf"
        if !fm.fileExists(atPath: config) {
            try SafeWrite.privateFile(config, contents: Data("# kvmbuild runs apt-cacher-ng with every setting on its command line.\n".utf8))
        }
    }

    /// The PID in the pid file, while that process is still our apt-cacher-ng (PIDs are reused).
    func daemonPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              isOurs(pid) else { return nil }
        return pid
    }

    private func isOurs(_ pid: pid_t) -> Bool {
        guard let args = ProcFS.commandLine(pid) else { return false }
        return args.first.map { $0.hasSuffix("apt-cacher-ng") } == true && args.contains(configDirectory)
    }
}

/// One build's share of the package cache, held until `release()`.
public final class PackageCacheLease: Sendable {
    public let port: Int
    private let users: FileLock
    private let cache: AptCacherNG

    init(port: Int, users: FileLock, cache: AptCacherNG) {
        self.port = port
        self.users = users
        self.cache = cache
    }

    public var hostURL: String { "http://127.0.0.1:\(port)" }

    /// Ends this share; the last one stops the daemon. Idempotent.
    public func release() async {
        guard users.isHeld else { return }
        await cache.release(users)
    }
}
