import Ansible
import ConfigDrive
import Foundation
import Testing
import Yams
@testable import KVMBuild
@testable import KVMBuildSupport

@Suite struct InventoryTests {
    @Test func builderIsAChildOfCompute() {
        let inventory = Inventory(hostName: "g", port: 2345, user: "kvmbuild", privateKeyPath: "/k", knownHostsPath: "/kh",
                                  controlPath: "/tmp/c", parentGroups: ["compute"])
        let text = inventory.render()
        #expect(text.contains("[builder]\ng ansible_host=127.0.0.1 ansible_port=2345 ansible_user=kvmbuild"))
        #expect(text.contains("[compute:children]\nbuilder"))
        #expect(text.contains("StrictHostKeyChecking=yes"))
        #expect(text.contains("UserKnownHostsFile=/kh"))
    }

    @Test func plainComputeNodeSkipsBuilder() {
        var inventory = Inventory(hostName: "g", port: 1, user: "u", privateKeyPath: "/k", knownHostsPath: "/kh",
                                  controlPath: "/tmp/c", parentGroups: ["compute"])
        inventory.buildGroup = nil
        let text = inventory.render()
        #expect(!text.contains("builder"))
        #expect(text.contains("[compute]\ng ansible_host"))
    }
}

@Suite struct UserDataTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-iso") }

    @Test func carriesUserKeysHostKeyAndMungeKey() async throws {
        let munge = Data((0..<64).map { UInt8($0) })
        let content = ConfigDriveContent(flavor: .configdrive, instanceID: "i-1", hostname: "h", user: "kvmbuild",
                                         authorizedKeys: ["ssh-ed25519 AAAA k"], hostKey: .init(privateKey: "PRIV", publicKey: "ssh-ed25519 HOST"),
                                         mungeKey: munge)
        let text = try UserData.render(template: "#cloud-config\nssh_pwauth: false\n", content: content)
        #expect(text.hasPrefix("#cloud-config\n"))
        let config = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(config["ssh_pwauth"] as? Bool == false)
        let user = try #require((config["users"] as? [[String: Any]])?.first)
        #expect(user["name"] as? String == "kvmbuild")
        #expect(user["ssh_authorized_keys"] as? [String] == ["ssh-ed25519 AAAA k"])
        #expect((config["ssh_keys"] as? [String: String])?["ed25519_private"] == "PRIV")
        let files = try #require(config["write_files"] as? [[String: Any]])
        let key = try #require(files.first { $0["path"] as? String == "/etc/munge/munge.key" })
        #expect(key["permissions"] as? String == "0400")
        #expect(Data(base64Encoded: key["content"] as? String ?? "") == munge)
        #expect(files.contains { ($0["content"] as? String)?.contains("ConfigDrive, NoCloud") == true })
        let dpkg = try #require(files.first { $0["path"] as? String == ConfigDriveContent.dpkgUnsafeIOPath })
        #expect((dpkg["content"] as? String)?.contains("\nforce-unsafe-io\n") == true)

        // apt runs dpkg through the wrapper, and apt itself must accept the file.
        let aptConfig = try #require(files.first { $0["path"] as? String == ConfigDriveContent.aptBuildConfigPath }?["content"] as? String)
        let confFile = scratch.path + "/apt.conf"
        try aptConfig.write(toFile: confFile, atomically: true, encoding: .utf8)
        let dump = try await ProcessRunner.checked(ProcessSpec("apt-config", ["-c", confFile, "dump"]))
        #expect(dump.stdout.contains("Dir::Bin::dpkg \"\(ConfigDriveContent.dpkgWrapperPath)\";"))
        #expect(dump.stdout.contains("systemctl daemon-reload"))

        // The wrapper and the systemctl it puts first on PATH, run here against stand-ins.
        let bin = scratch.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        func script(_ path: String) throws -> String {
            let file = try #require(files.first { $0["path"] as? String == path })
            #expect(file["permissions"] as? String == "0755")
            return try #require(file["content"] as? String)
        }
        let wrapper = try script(ConfigDriveContent.dpkgWrapperPath)
            .replacingOccurrences(of: ConfigDriveContent.noReloadBinPath, with: bin)
            .replacingOccurrences(of: "exec /usr/bin/dpkg", with: "exec sh -c")
        let systemctl = try script(ConfigDriveContent.noReloadBinPath + "/systemctl")
            .replacingOccurrences(of: "exec /usr/bin/systemctl", with: "exec echo real")
        try wrapper.write(toFile: scratch.path + "/dpkg", atomically: true, encoding: .utf8)
        try systemctl.write(toFile: bin + "/systemctl", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/systemctl")
        let run = try await ProcessRunner.checked(ProcessSpec("sh", [scratch.path + "/dpkg",
            "systemctl --system daemon-reload; systemctl enable munge.service; systemctl start munge"]))
        #expect(run.stdout == "real enable munge.service\nreal start munge\n")
        for path in ConfigDriveContent.buildTimePaths {
            #expect(files.contains { ($0["path"] as? String).map { $0 == path || $0.hasPrefix(path + "/") } == true }, "\(path) is sealed away but never written")
        }
    }

    @Test func isoHasTheFlavoursLabelAndIsPrivate() async throws {
        let dir = scratch.path
        for flavor in ConfigDriveContent.Flavor.allCases {
            let iso = dir + "/\(flavor.rawValue).iso"
            let content = ConfigDriveContent(flavor: flavor, instanceID: "i", hostname: "h", user: "u", authorizedKeys: [], hostKey: nil, mungeKey: nil)
            try await ConfigDriveWriter.write(content, template: "#cloud-config\n", to: iso)
            let mode = try FileManager.default.attributesOfItem(atPath: iso)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let info = try await ProcessRunner.checked(ProcessSpec("xorriso", ["-indev", iso, "-pvd_info"]))
            #expect((info.stdout + info.stderr).contains("Volume Id    : \(flavor.volumeLabel)"))
            let files = try await ProcessRunner.checked(ProcessSpec("xorriso", ["-indev", iso, "-find", "/", "-type", "f"]))
            let expected = flavor == .configdrive ? "/openstack/latest/user_data" : "/user-data"
            #expect((files.stdout + files.stderr).contains(expected))
            #expect(!FileManager.default.fileExists(atPath: iso + ".d"), "staging folder with secrets must be gone")
        }
    }
}

@Suite struct DomainXMLTests {
    @Test func tcgDomainForwardsSSHOnLoopbackOnly() {
        let xml = GuestDomain(name: "kvmbuild-compute-1", accelerator: .tcg, memoryMiB: 1536, vcpus: 2, disk: "/b/disk.qcow2",
                              configDrive: "/b/cd.iso", consoleLog: "/b/console.log", sshPort: 2400,
                              metadata: .init(id: "1", target: "compute", pid: 1, folder: "/b")).xml()
        #expect(xml.contains("<domain type='qemu'"))
        #expect(xml.contains("hostfwd=tcp:127.0.0.1:2400-:22"))
        #expect(xml.contains("<log file='/b/console.log'"))
        #expect(xml.contains(GuestDomain.metadataNamespace))
        #expect(!xml.contains("host-passthrough"))
        // Build disks ignore guest flushes and pause (not fail) on a full host disk.
        #expect(xml.contains("type='qcow2' cache='unsafe' discard='unmap' error_policy='enospace'"))
    }

    @Test func kvmDomainUsesHostCPU() {
        let xml = GuestDomain(name: "n", accelerator: .kvm, memoryMiB: 1, vcpus: 1, disk: "d", configDrive: "c", consoleLog: "l", sshPort: 1,
                              metadata: .init(id: "1", target: "t", pid: 1, folder: "f")).xml()
        #expect(xml.contains("<domain type='kvm'"))
        #expect(xml.contains("host-passthrough"))
    }
}

@Suite struct PortReservationTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-ports") }

    @Test func concurrentReservationsNeverShareAPort() throws {
        let dir = scratch.path + "/a"
        let range = 24_100...24_103
        let held = try (0..<4).map { _ in try PortReservation.reserve(lockDirectory: dir, range: range) }
        #expect(Set(held.map(\.port)).count == 4)
        #expect(throws: KVMBuildError.self) { try PortReservation.reserve(lockDirectory: dir, range: range) }
        held[0].release()
        #expect(try PortReservation.reserve(lockDirectory: dir, range: range).port == held[0].port)
    }

    /// A released port's lock file goes; one held by another reserver stays, and the next
    /// reservation of a released port is exclusive again.
    @Test func releasedReservationsLeaveNoLockFile() throws {
        let dir = scratch.path + "/c"
        let range = 24_130...24_131
        let first = try PortReservation.reserve(lockDirectory: dir, range: range)
        let second = try PortReservation.reserve(lockDirectory: dir, range: range)
        first.release()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["\(second.port).lock"])
        let again = try PortReservation.reserve(lockDirectory: dir, range: range)
        #expect(again.port == first.port)
        #expect(throws: KVMBuildError.self, "both ports are held again") { try PortReservation.reserve(lockDirectory: dir, range: range) }
        second.release()
        again.release()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// `kvmbuild clean` removes lock files nobody holds (a crashed build's) and leaves held ones.
    @Test func staleLockFilesAreRemovedAndHeldOnesKept() throws {
        let dir = scratch.path + "/d"
        let held = try PortReservation.reserve(lockDirectory: dir, range: 24_140...24_140)
        _ = FileManager.default.createFile(atPath: dir + "/24141.lock", contents: nil)
        #expect(PortReservation.removeStaleLocks(in: dir) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["24140.lock"])
        held.release()
    }

    @Test func portInUseIsSkipped() throws {
        let dir = scratch.path + "/b"
        // Take 24110 with a listening socket; the reservation must pick 24111.
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(sock) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(24_110).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0)
        listen(sock, 1)
        #expect(try PortReservation.reserve(lockDirectory: dir, range: 24_110...24_111).port == 24_111)
    }
}

extension PortReservationTests {
    /// A guest that is gone leaves its forwarded connections in TIME_WAIT (the server side closed
    /// first); its port must count as free again.
    @Test func portOfAGoneListenerIsFreeDespiteTimeWait() throws {
        let port = 24_120
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) } } == 0)
        listen(listener, 1)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, size) } } == 0)
        let accepted = accept(listener, nil, nil)
        try #require(accepted >= 0)
        #expect(!PortReservation.isFree(port), "a live listener holds the port")
        close(accepted)  // server closes first: TIME_WAIT on the listening port
        close(listener)
        usleep(100_000)
        close(client)
        #expect(PortReservation.isFree(port))
    }
}

@Suite struct ImageCacheTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-cache") }

    @Test func wrongChecksumLeavesNothingInTheCache() async throws {
        let dir = scratch.path
        let source = dir + "/base.img"
        try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: source))
        let wrong = String(repeating: "0", count: 64)
        await #expect {
            try await ImageCache(cacheDirectory: dir + "/cache").fetch(source: source, checksum: "sha256:\(wrong)", console: Console())
        } throws: { error in
            let e = error as? KVMBuildError
            return e?.code == .checksumMismatch && e?.message.contains(wrong) == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cache/images").isEmpty)
    }

    @Test func verifiedImageIsStoredUnderItsHashOnce() async throws {
        let dir = scratch.path
        let source = dir + "/base.img"
        try Data(repeating: 9, count: 5 << 20).write(to: URL(fileURLWithPath: source))
        let sha = try Hashing.sha256(ofFile: source)
        let cache = ImageCache(cacheDirectory: dir + "/cache")
        let first = try await cache.fetch(source: "file://" + source, checksum: "sha256:\(sha)", console: Console())
        #expect(first.path == dir + "/cache/images/" + sha)
        try FileManager.default.removeItem(atPath: source)
        // Cached: the source is no longer needed.
        let second = try await cache.fetch(source: source, checksum: "sha256:\(sha)", console: Console())
        #expect(second.path == first.path)
    }
}

@Suite struct ProcessRunnerTests {
    let scratch: Scratch

    init() throws { scratch = try Scratch("kvmbuild-proc") }

    @Test func cancellationKillsTheChild() async throws {
        let marker = scratch.path + "/pid"
        let task = Task { try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", "echo $$ > \(marker); exec sleep 300"])) }
        var pid: Int32?
        for _ in 0..<100 where pid == nil {
            try await Task.sleep(nanoseconds: 50_000_000)
            pid = (try? String(contentsOfFile: marker, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let child = try #require(pid)
        let cancelled = Date()
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(kill(child, 0) != 0, "the child must be gone once the call returns")
        #expect(Date().timeIntervalSince(cancelled) < ProcessRunner.terminationGrace, "SIGTERM, not the SIGKILL fallback, must end it")
    }

    /// A descriptor kvmbuild inherited without close-on-exec must not reach its children: a daemon
    /// it starts (the package cache) would keep it open, and whoever watches it (a CI runner's
    /// pipe, Foundation's Process exit socket) would not see kvmbuild end until the daemon did.
    @Test func childrenInheritOnlyStandardDescriptors() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)  // plain pipe(): no close-on-exec, like an inherited descriptor
        defer { fds.filter { $0 >= 0 }.forEach { close($0) } }
        let probe = "for fd in \(fds[0]) \(fds[1]); do [ -e /proc/self/fd/$fd ] && echo open $fd; done; echo checked"
        let result = try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", probe]))
        #expect(result.stdout == "checked\n", "inherited: \(result.stdout)")
        // And a child that outlives its call does not hold the pipe: EOF comes once we close ours.
        let background = try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"]))
        let sleeper = try #require(Int32(background.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(sleeper, SIGKILL) }
        close(fds[1])
        fds[1] = -1
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var byte: UInt8 = 0
        #expect(read(fds[0], &byte, 1) == 0, "the background child still holds the pipe's write end (errno \(errno))")
    }

    @Test func missingToolNamesTheFix() async {
        await #expect {
            try await ProcessRunner.run(ProcessSpec("kvmbuild-no-such-tool"))
        } throws: { ($0 as? KVMBuildError)?.fix?.contains("setup-host") == true }
    }
}

@Suite struct PlaybookSyntaxTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func computePlaybookPassesSyntaxCheck() async throws {
        try await PlaybookRun(playbook: Self.repo + "/ansible/site.yml", inventories: [], limit: nil, logPath: "/dev/null").syntaxCheck()
    }

    @Test func brokenPlaybookIsReportedWithTheFix() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "- hosts: all\n  tasks:\n    - name: x\n      no.such.module: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
        await #expect {
            try await PlaybookRun(playbook: path, inventories: [], limit: nil, logPath: "/dev/null").syntaxCheck()
        } throws: { ($0 as? KVMBuildError)?.message.contains("does not parse") == true }
    }
}

@Suite struct StreamingTests {
    @Test func linesArriveWhileTheChildStillRuns() async throws {
        let seen = LineLog()
        let start = Date()
        let code = try await ProcessRunner.stream(ProcessSpec("/bin/sh", ["-c", "echo first; sleep 3; echo second"])) { line in
            seen.add(line, at: Date().timeIntervalSince(start))
        }
        #expect(code == 0)
        let lines = seen.lines
        #expect(lines.map(\.0) == ["first", "second"])
        // "first" must not wait for the child to exit (the second line comes 3 s later).
        #expect(lines[0].1 + 2 < lines[1].1)
    }
}

final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [(String, TimeInterval)] = []
    func add(_ line: String, at time: TimeInterval) { lock.withLock { stored.append((line, time)) } }
    var lines: [(String, TimeInterval)] { lock.withLock { stored } }
}

@Suite struct ShellQuoteTests {
    @Test func roundTripsThroughAShell() async throws {
        let text = "it's \"a\" $HOME `x` ; echo y"
        let result = try await ProcessRunner.run(ProcessSpec("/bin/sh", ["-c", "printf %s " + SSHClient.shellQuote(text)]))
        #expect(result.stdout == text)
    }
}

@Suite struct ProgressTests {
    @Test func consoleLinesArePrintedWithoutEscapesAndCutShort() {
        #expect(Progress.printable("[\u{1B}[0;32m  OK  \u{1B}[0m] Started munge.service\r") == "[  OK  ] Started munge.service")
        #expect(Progress.printable(String(repeating: "x", count: 100), limit: 10) == String(repeating: "x", count: 9) + "…")
        #expect(Progress.bytes(5 << 20) == "5.0 MiB" && Progress.bytes(3 << 29) == "1.5 GiB")
    }
}
