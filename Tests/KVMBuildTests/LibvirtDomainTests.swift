import Foundation
@testable import KVMBuild
import KVMBuildSupport
import Libvirt
import Testing

/// The libvirt wrapper against the real libvirtd, with a tiny diskless guest under TCG.
@Suite(.serialized) struct LibvirtDomainTests {
    /// A guest with no disk: QEMU starts and its BIOS loops looking for something to boot.
    static func startDisklessGuest(_ connection: Connection) throws -> Domain {
        let name = "kvmbuild-test-diskless-\(UUID().uuidString.prefix(8).lowercased())"
        return try connection.createTransientDomain(xml: """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>32</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
            </domain>
            """)
    }

    @Test func destroyingAGoneDomainSucceeds() throws {
        let connection = try Connection(uri: "qemu:///system")
        let domain = try Self.startDisklessGuest(connection)
        defer { try? domain.destroy() }
        #expect(try connection.domain(named: domain.name) != nil)
        try domain.destroy()
        #expect(try connection.domain(named: domain.name) == nil, "a transient domain is gone once destroyed")
        // What `clean` meets right after a libvirtd restart: the domain vanished under it.
        try domain.destroy()
    }

    @Test func aFailedCallKeepsLibvirtsMessage() throws {
        let connection = try Connection(uri: "qemu:///system")
        let domain = try Self.startDisklessGuest(connection)
        try domain.destroy()
        // The label names the domain through another libvirt call, which must not wipe the error.
        let error = try #require(throws: LibvirtError.self) { try domain.shutdown() }
        #expect(error.isNoDomain, "\(error)")
        #expect(error.message.contains("not found") || error.message.contains("no domain"), "\(error)")
        #expect(error.operation == "virDomainShutdown(\(domain.name))")
    }

    /// `kvmbuild console` execs tail to follow a running guest's log: Ctrl-C must end it (the
    /// exec'd program used to inherit Swift's blocked signal mask and ignore SIGINT).
    @Test func consoleStopsOnSIGINT() async throws {
        let scratch = try Scratch("kvmbuild-console")
        let connection = try Connection(uri: "qemu:///system")
        let domain = try Self.startDisklessGuest(connection)
        defer { try? domain.destroy() }
        let folder = scratch.path + "/build/console-1"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "booting\n".write(toFile: folder + "/console.log", atomically: true, encoding: .utf8)
        let state = BuildState(id: "c0ffee00", name: "console-1", target: "console", pid: 1, status: .aborted, started: Date(),
                               domain: domain.name, sshPort: nil, sshUser: "u", libvirtURI: "qemu:///system", image: nil)
        try state.save(folder + "/state.json")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["KVMBUILD_BIN"] ?? Harness.repo + "/.build/debug/kvmbuild")
        process.arguments = ["console", "console-1", "--build-dir", scratch.path + "/build"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // Following: tail has printed the log and waits for more.
        var seen = ""
        for _ in 0..<50 where !seen.contains("booting") {
            seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(seen.contains("booting"))
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(process.isRunning, "tail -F follows a running guest's log")
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(1)
        while process.isRunning, Date() < deadline { try await Task.sleep(nanoseconds: 50_000_000) }
        #expect(!process.isRunning, "SIGINT must end kvmbuild console within a second")
    }
}

/// `kvmbuild clean` and a `kvmbuild test` run that was killed: its guest (real libvirt), its
/// switch (a real vde_switch) and its key go, its logs stay, and a live run is not touched.
@Suite(.serialized) struct TestRunFolderTests {
    @Test func aKilledRunsGuestSwitchAndKeyAreRemovedAndItsLogsKept() async throws {
        let scratch = try Scratch("kvmbuild-runs")
        let uri = "qemu:///system"
        let live = try TestRunFolder.create(id: "live\(UUID().uuidString.prefix(4).lowercased())", libvirtURI: uri, in: scratch.path)

        let id = "dead\(UUID().uuidString.prefix(4).lowercased())"
        let run = scratch.path + "/" + TestRunFolder.prefix + id
        for folder in ["/cluster/logs", "/cluster/node1"] { try FileManager.default.createDirectory(atPath: run + folder, withIntermediateDirectories: true) }
        for file in ["/id_ed25519", "/cluster/node1/overlay.qcow2", "/cluster/logs/node1-console.log"] { try Data("x".utf8).write(to: URL(fileURLWithPath: run + file)) }
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let owner = TestRunFolder.Owner(id: id, pid: ended.processIdentifier, libvirtURI: uri)
        try JSONEncoder().encode(owner).write(to: URL(fileURLWithPath: run + "/owner.json"))
        let connection = try Connection(uri: uri)
        let name = "kvmbuild-test-run-\(id)"
        let domain = try connection.createTransientDomain(xml: """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>32</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
              <metadata><kvmbuild:build xmlns:kvmbuild='\(GuestDomain.metadataNamespace)' id='\(id)' target='compute' pid='\(owner.pid)' folder='\(run)'/></metadata>
            </domain>
            """)
        defer { try? domain.destroy() }
        let segment = try await VDESwitch.start(in: run + "/cluster/segment")
        defer { segment.stop() }

        let dead = TestRunFolder.dead(in: scratch.path)
        #expect(dead.map(\.owner.id) == [id], "only the run whose process is gone")
        let removed = try #require(dead.first).clean()
        #expect(removed.contains("domain \(name)"), "\(removed)")
        #expect(try connection.domain(named: name) == nil)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(Harness.ourSwitches(under: run + "/").isEmpty, "its switch stopped")
        for file in ["/id_ed25519", "/cluster/node1", "/owner.json"] { #expect(!FileManager.default.fileExists(atPath: run + file), "\(file) removed") }
        #expect(FileManager.default.fileExists(atPath: run + "/cluster/logs/node1-console.log"), "the logs stay")
        #expect(TestRunFolder.dead(in: scratch.path).isEmpty, "nothing left to clean")
        #expect(FileManager.default.fileExists(atPath: live.path + "/owner.json"), "a live run is not touched")
    }

    @Test func aFailedSetupRemovesTheRunAndAnEndedOneKeepsOnlyLogs() async throws {
        let scratch = try Scratch("kvmbuild-runs")
        let failed = try TestRunFolder.create(id: "fail0001", libvirtURI: "qemu:///system", in: scratch.path)
        await #expect(throws: KVMBuildError.self) {
            try await failed.removingOnError { () async throws -> Int in throw KVMBuildError(.invalidInput, "setup failed") }
        }
        #expect(!FileManager.default.fileExists(atPath: failed.path))

        let ended = try TestRunFolder.create(id: "ends0001", libvirtURI: "qemu:///system", in: scratch.path)
        try FileManager.default.createDirectory(atPath: ended.path + "/cluster/logs", withIntermediateDirectories: true)
        try Data("k".utf8).write(to: URL(fileURLWithPath: ended.path + "/id_ed25519"))
        try Data("l".utf8).write(to: URL(fileURLWithPath: ended.path + "/cluster/logs/control-console.log"))
        ended.removeAllButLogs()
        #expect(try FileManager.default.contentsOfDirectory(atPath: ended.path) == ["cluster"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: ended.path + "/cluster") == ["logs"])
    }
}
