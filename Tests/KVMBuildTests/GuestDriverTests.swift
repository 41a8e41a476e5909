import Foundation
import Synchronization
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Libvirt

/// The boot and shutdown phases against a guest driver double: what they ask of the hypervisor,
/// in what order, and what their cleanups undo, without a guest.
@Suite struct GuestDriverTests {
    typealias Double = GuestDouble

    struct Fails: BuildPhase {
        let name = "provision"
        func run(_ build: BuildContext) async throws { throw KVMBuildError(.provisionFailed, "play failed", fix: "fix it") }
    }

    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-driver") }

    func context(_ driver: Double, shutdownTimeout: TimeInterval = 180) throws -> BuildContext {
        var options = BuildOptions(buildDirectory: scratch.path + "/build", cacheDirectory: scratch.path + "/cache", projectDirectory: scratch.path)
        options.shutdownTimeout = shutdownTimeout
        let target = try TargetsFile.load(path: Harness.repo + "/kvmbuild.yml").target("compute")
        let paths = try BuildFolder.create(in: options.buildDirectory, name: "compute-driver-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(atPath: paths.privateDirectory, withIntermediateDirectories: true)
        let quiet = Console()
        quiet.minimumLevel = .error
        let build = BuildContext(target: target, options: options, id: "drv\(UUID().uuidString.prefix(4))", paths: paths, console: quiet)
        try build.produce(\.guests, driver)
        try build.produce(\.accelerator, .tcg)
        try build.produce(\.hostPublicKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 root@guest")
        return build
    }

    func run(_ phases: [any BuildPhase], _ build: BuildContext) async throws {
        try await PipelineRunner(phases: phases, interrupts: InterruptMonitor()).run(build)
    }

    @Test func aFailureAfterTheBootDestroysTheGuestAndFreesItsPort() async throws {
        let driver = Double()
        let build = try context(driver)
        await #expect(throws: KVMBuildError.self) { try await run([BootPhase(), Fails()], build) }
        #expect(driver.log == ["start \(build.domainName)", "destroy \(build.domainName)"])
        #expect(driver.running.isEmpty)
        let port = try #require(build.state.sshPort)
        #expect(PortReservation.isFree(port), "the port went with the guest")
        #expect(!FileManager.default.fileExists(atPath: build.paths.privateDirectory), "a failed build keeps no key or pin")
    }

    @Test func aStartThatFailsHalfWayIsStillDestroyedByName() async throws {
        let driver = Double(startFails: true)
        let build = try context(driver)
        let error = await #expect(throws: KVMBuildError.self) { try await run([BootPhase()], build) }
        #expect(error?.message == "libvirt could not start the guest")
        #expect(error?.cause is LibvirtError, "libvirt's error is kept")
        #expect(driver.log.last == "destroy \(build.domainName)", "registered before the start, so the half-started domain goes")
        #expect(driver.running.isEmpty)
    }

    @Test func aGuestThatHonoursACPIIsNotForcedOff() async throws {
        let driver = Double()
        let build = try context(driver)
        try await run([BootPhase(), ShutdownPhase()], build)
        #expect(driver.log == ["start \(build.domainName)", "shutdown \(build.domainName)", "destroy \(build.domainName)"],
                "the success path's cleanup destroys by name, which finds nothing: \(driver.log)")
        let port = try #require(build.state.sshPort)
        let pinned = try String(contentsOfFile: build.paths.knownHosts, encoding: .utf8)
        #expect(pinned == "[127.0.0.1]:\(port) ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0\n", "the host key is pinned for the guest's port")
    }

    @Test func aGuestThatIgnoresACPIIsForcedOffAfterTheTimeout() async throws {
        let driver = Double(honoursACPI: false)
        let build = try context(driver, shutdownTimeout: 1)
        let started = Date()
        try await run([BootPhase(), ShutdownPhase()], build)
        #expect(Array(driver.log.prefix(3)) == ["start \(build.domainName)", "shutdown \(build.domainName)", "destroy \(build.domainName)"])
        #expect(Date().timeIntervalSince(started) >= 1, "it waited for ACPI first")
        #expect(driver.running.isEmpty)
    }

    @Test func shutdownOfAGuestAlreadyGoneDoesNothing() async throws {
        let driver = Double()
        let build = try context(driver)
        try await run([ShutdownPhase()], build)
        #expect(driver.log.isEmpty)
    }
}
