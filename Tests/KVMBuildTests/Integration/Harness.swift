import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Libvirt

/// Every suite that boots guests or talks to Glance, nested here so that none of them ever runs
/// at the same time as another: two TCG guests on a 2-core host would starve each other.
@Suite(.serialized) enum IntegrationTests {}

/// Runs the real kvmbuild binary the way a user or CI script does, in a throw-away project
/// folder (its own kvmbuild.yml and build/), and checks what a build left behind.
struct Harness {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static var binary: String { ProcessInfo.processInfo.environment["KVMBUILD_BIN"] ?? repo + "/.build/debug/kvmbuild" }
    static var cache: String {
        ProcessInfo.processInfo.environment["KVMBUILD_CACHE"] ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/kvmbuild"
    }
    static var baseImage: String { cache + "/base/debian-12-kvmbuild.qcow2" }
    static var mungeKey: String {
        ProcessInfo.processInfo.environment["KVMBUILD_MUNGE_KEY"] ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.config/kvmbuild/munge.key"
    }

    /// The project folder: cloud-init/ and ansible/ from the repo, plus a targets file.
    let project: String
    var buildDir: String { project + "/build" }

    /// `userDataAppendix` is appended to the repo's cloud-init template for this project only.
    init(targets: String? = nil, extraFiles: [String: String] = [:], userDataAppendix: String? = nil) throws {
        project = FileManager.default.temporaryDirectory.appendingPathComponent("kvmbuild-it-\(UUID().uuidString.prefix(8))").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: project + "/build", withIntermediateDirectories: true)
        if let userDataAppendix {
            try fm.createDirectory(atPath: project + "/cloud-init", withIntermediateDirectories: true)
            let template = try String(contentsOfFile: Self.repo + "/cloud-init/user-data.yaml", encoding: .utf8)
            try (template + userDataAppendix).write(toFile: project + "/cloud-init/user-data.yaml", atomically: true, encoding: .utf8)
        } else {
            try fm.createSymbolicLink(atPath: project + "/cloud-init", withDestinationPath: Self.repo + "/cloud-init")
        }
        try fm.createSymbolicLink(atPath: project + "/ansible", withDestinationPath: Self.repo + "/ansible")
        let yaml = try targets ?? String(contentsOfFile: Self.repo + "/kvmbuild.yml", encoding: .utf8)
        try yaml.write(toFile: project + "/kvmbuild.yml", atomically: true, encoding: .utf8)
        for (name, text) in extraFiles {
            try fm.createDirectory(atPath: URL(fileURLWithPath: project + "/" + name).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try text.write(toFile: project + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    /// A targets file with one target named `name` on the embedded base image.
    static func targets(_ name: String, playbook: String, checksum: String? = nil) -> String {
        """
        targets:
          \(name):
            base_image:
              source: \(baseImage)
              checksum: \(checksum ?? "file:\(baseImage).sha256")
            playbook: \(playbook)
            munge_key: \(mungeKey)
        """
    }

    func run(_ args: [String], environment: [String: String] = [:], timeout: TimeInterval = 30 * 60) async throws -> ProcessResult {
        try await withTimeout(timeout) {
            try await ProcessRunner.run(ProcessSpec(Self.binary, args + ["--build-dir", buildDir], environment: environment, workingDirectory: project))
        }
    }

    /// Runs kvmbuild with stdout a pipe whose reader has already gone; returns the exit status
    /// (a crash or SIGPIPE would show as 128 + signal).
    func runWithClosedStdout(_ args: [String]) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = args + ["--build-dir", buildDir]
        process.currentDirectoryURL = URL(fileURLWithPath: project)
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        try pipe.fileHandleForReading.close()
        try process.run()
        try pipe.fileHandleForWriting.close()
        while process.isRunning { try await Task.sleep(nanoseconds: 200_000_000) }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Starts kvmbuild without waiting, for tests that signal it.
    func start(_ args: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = args + ["--build-dir", buildDir]
        process.currentDirectoryURL = URL(fileURLWithPath: project)
        process.standardInput = FileHandle.nullDevice
        let log = project + "/kvmbuild-\(UUID().uuidString.prefix(4)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        // One handle for both streams: two would each write from offset 0 over the other.
        let output = FileHandle(forWritingAtPath: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return process
    }

    /// Every build folder with a state file (not the `<target>-latest` links to them).
    func states() -> [(folder: String, state: BuildState)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: buildDir)) ?? []
        return names.sorted().compactMap { name in
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: buildDir + "/\(name)")) == nil else { return nil }
            return BuildState.load(buildDir + "/\(name)/state.json").map { (buildDir + "/\(name)", $0) }
        }
    }

    /// Waits until `condition` holds, polling every 2 s; fails the test after `timeout`.
    func waitFor(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            try await Task.sleep(nanoseconds: 2_000_000_000)
        }
        Issue.record("timed out waiting for \(what)")
        throw TimeoutError()
    }

    /// No domain, overlay, config drive, key, inventory or held port remains for any build here.
    func expectNothingLeftBehind(sourceLocation: SourceLocation = #_sourceLocation) throws {
        // A `kvmbuild test` run that died without cleaning up (its owner record is still there).
        let deadRuns = TestRunFolder.dead().map(\.path)
        #expect(deadRuns.isEmpty, "test runs left behind: \(deadRuns)", sourceLocation: sourceLocation)
        let connection = try Connection(uri: "qemu:///system")
        let domains = try connection.allDomains().map(\.name)
        for (folder, state) in states() {
            // The build guest, its test instance, the cluster test's controller and nodes.
            let mine = domains.filter { $0.contains(state.id) }
            #expect(mine.isEmpty, "domains \(mine) left running", sourceLocation: sourceLocation)
            let paths = BuildPaths(root: folder, name: state.name)
            for path in [paths.overlay, paths.configDrive, paths.privateDirectory, paths.inventory, paths.imagePartial] {
                #expect(!FileManager.default.fileExists(atPath: path), "\(path) left behind", sourceLocation: sourceLocation)
            }
            if let port = state.sshPort {
                #expect(PortReservation.isFree(port), "port \(port) still in use", sourceLocation: sourceLocation)
            }
            #expect(state.status != .running, "state still says running", sourceLocation: sourceLocation)
        }
        let switches = Self.ourSwitches(under: project) + Self.ourSwitches(under: FileManager.default.temporaryDirectory.path + "/kvmbuild-test-")
        #expect(switches.isEmpty, "vde switches left running: \(switches)", sourceLocation: sourceLocation)
        let partials = ((try? FileManager.default.contentsOfDirectory(atPath: Self.cache + "/images")) ?? []).filter { $0.contains(".partial") }
        #expect(partials.isEmpty, "partial downloads in the image cache: \(partials)", sourceLocation: sourceLocation)
        let cache = AptCacherNG(cacheDirectory: Self.cache).unusedDaemon()
        #expect(cache == nil, "apt-cacher-ng \(cache ?? 0) runs for no build", sourceLocation: sourceLocation)
    }

    func remove() { try? FileManager.default.removeItem(atPath: project) }

    /// vde_switch processes whose socket lies under `prefix` (a project, or `kvmbuild test`'s folders).
    static func ourSwitches(under prefix: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.compactMap { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard args.first?.hasSuffix("vde_switch") == true, args.contains(where: { $0.hasPrefix(prefix) }) else { return nil }
            return "\(pid): \(args.joined(separator: " "))"
        }
    }
}

/// One error line on stderr, naming a fix.
func expectOneLineError(_ result: ProcessResult, contains text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.exitCode != 0, sourceLocation: sourceLocation)
    let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
    #expect(errors.count >= 1, "no error line in: \(result.stderr.suffix(2000))", sourceLocation: sourceLocation)
    let last = errors.last.map(String.init) ?? ""
    #expect(last.contains(text), "'\(last)' lacks '\(text)'", sourceLocation: sourceLocation)
    #expect(last.contains(" — "), "'\(last)' names no fix", sourceLocation: sourceLocation)
}

extension Harness {
    /// Output files of the builds `start` launched.
    func logs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: project)) ?? [])
            .filter { $0.hasPrefix("kvmbuild-") && $0.hasSuffix(".log") }.sorted().map { project + "/" + $0 }
    }
}

/// The libvirtd that scripts/setup-host.sh started (no systemd here), stopped for a fault test
/// and always started again the same way, even when the test fails.
enum LibvirtDaemon {
    static let pidFile = "/run/libvirtd.pid"

    static func whileStopped(_ body: () async throws -> Void) async throws {
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(pid_t(text), "no libvirtd pid in \(pidFile)")
        try #require(kill(pid, SIGTERM) == 0, "cannot stop libvirtd \(pid)")
        var gone = false
        for _ in 0..<100 where !gone {
            try await Task.sleep(nanoseconds: 100_000_000)
            gone = kill(pid, 0) != 0
        }
        do {
            try #require(gone, "libvirtd \(pid) did not stop")
            try await body()
        } catch {
            try await start()
            throw error
        }
        try await start()
    }

    static func start() async throws {
        // Its own stdio on /dev/null: a daemon holding our output pipes would stall the test run.
        try await ProcessRunner.checked(ProcessSpec("/bin/sh", ["-c", "libvirtd -d </dev/null >/dev/null 2>&1"]))
        for _ in 0..<150 {
            if (try? Connection(uri: "qemu:///system")) != nil { return }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        Issue.record("libvirtd did not answer again within 30 s")
    }
}

/// A small ext4 file system on a loop device, mounted over a folder (root only; CI runs as root).
struct SmallFileSystem {
    let mountPoint: String
    let imageFile: String

    init(at mountPoint: String, mib: Int) async throws {
        self.mountPoint = mountPoint
        imageFile = mountPoint + ".fs.img"
        try await ProcessRunner.checked(ProcessSpec("truncate", ["-s", "\(mib)M", imageFile]))
        try await ProcessRunner.checked(ProcessSpec("/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", imageFile]))
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try await ProcessRunner.checked(ProcessSpec("mount", ["-o", "loop", imageFile, mountPoint]))
    }

    /// Takes all but `leavingMiB` of the free space with one preallocated file.
    func fill(leavingMiB: Int) async throws {
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: mountPoint)
        let free = try #require(attributes[.systemFreeSize] as? Int64)
        let take = max(0, free - Int64(leavingMiB) << 20)
        try await ProcessRunner.checked(ProcessSpec("fallocate", ["-l", String(take), mountPoint + "/filler"]))
    }

    func remove() {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-d", mountPoint]
        if (try? umount.run()) != nil { umount.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: imageFile)
    }
}
