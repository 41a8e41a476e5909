import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport

/// The real phases from boot to the secret scan, with every tool they drive replaced by a double
/// (BuildTools): what they ask of libvirt, ssh, ansible, libguestfs and qemu-img, in what order,
/// and what is undone when one of them fails, without a guest.
@Suite struct PhasePipelineTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-phases") }

    struct Setup {
        var guests = GuestDouble()
        var shell: ShellDouble?
        var images: ImagesDouble?
        var sealer: SealerDouble?
        var playbook: PlaybookDouble?
        var accelerator = Accelerator.tcg
        var sshTimeout: TimeInterval = 60
        var bootWatchdog: TimeInterval = 120
        var onError = OnErrorPolicy.cleanup
    }

    func context(_ setup: Setup, _ journal: ToolJournal) throws -> BuildContext {
        var options = BuildOptions(buildDirectory: scratch.path + "/build", cacheDirectory: scratch.path + "/cache", projectDirectory: Harness.repo)
        options.sshTimeout = setup.sshTimeout
        options.bootWatchdog = setup.bootWatchdog
        options.onError = setup.onError
        let target = try TargetsFile.load(path: Harness.repo + "/kvmbuild.yml").target("compute")
        let paths = try BuildFolder.create(in: options.buildDirectory, name: "compute-phases-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(atPath: paths.privateDirectory, withIntermediateDirectories: true)
        let quiet = Console()
        quiet.minimumLevel = .error
        let shell = setup.shell ?? ShellDouble(journal)
        let tools = BuildTools(connectGuests: { _ in setup.guests }, images: setup.images ?? ImagesDouble(journal: journal),
                               sealer: setup.sealer ?? SealerDouble(journal: journal), shell: { _ in shell },
                               playbooks: setup.playbook ?? PlaybookDouble(journal: journal))
        let build = BuildContext(target: target, options: options, id: "ph\(UUID().uuidString.prefix(4))", paths: paths, console: quiet, tools: tools)
        // What the preflight and the config drive would have made.
        try build.produce(\.guests, setup.guests)
        try build.produce(\.accelerator, setup.accelerator)
        try build.produce(\.hostPublicKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 root@guest")
        return build
    }

    let guestPath: [any BuildPhase] = [BootPhase(), WaitForSSHPhase(), ProvisionPhase(), ShutdownPhase(), SealPhase(), ExportPhase(), SecretScanPhase()]

    func run(_ phases: [any BuildPhase], _ build: BuildContext) async throws {
        try await PipelineRunner(phases: phases, interrupts: InterruptMonitor()).run(build)
    }

    @Test func theGuestPathDrivesEachToolInOrderAndLeavesNothingRunning() async throws {
        let journal = ToolJournal()
        let setup = Setup()
        let build = try context(setup, journal)
        try await run(guestPath, build)
        #expect(journal.all == [
            "ssh true", "ssh cloud-init status --wait", "ssh cat /etc/machine-id",
            "ansible-playbook site.yml --limit builder",
            "seal \(build.target.sshUser)",
            "qemu-img convert zstd", "qemu-img check", "qemu-img info",
            "qemu-img raw copy",
        ])
        let domain = build.domainName
        #expect(setup.guests.log == ["start \(domain)", "shutdown \(domain)", "destroy \(domain)"])
        #expect(setup.guests.running.isEmpty)
        let export = try build.output(\.export)
        #expect(export.path == build.paths.image && FileManager.default.fileExists(atPath: export.path))
        #expect(build.buildMachineID == "0123456789abcdef", "the build guest's machine-id is kept for the instance test")
        #expect(build.timings.map(\.phase) == guestPath.map(\.name))
        #expect(!FileManager.default.fileExists(atPath: build.paths.scanCopy), "the scan's raw copy holds secrets: gone")
        #expect(PortReservation.isFree(try #require(build.sshPort)))
    }

    @Test func aFailedPlayIsNeitherSealedNorExportedAndItsGuestIsDestroyed() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.playbook = PlaybookDouble(journal: journal, exitCode: 2)
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .provisionFailed)
        #expect(error?.message.contains("exit 2") == true)
        #expect(!journal.all.contains { $0.hasPrefix("seal") || $0.hasPrefix("qemu-img") }, "\(journal.all)")
        #expect(setup.guests.log.last == "destroy \(build.domainName)")
        #expect(setup.guests.running.isEmpty)
        #expect(build.state.failure?.phase == "provision")
        #expect(PortReservation.isFree(try #require(build.sshPort)))
    }

    @Test func aGuestPausedOnAFullDiskEndsTheHangingPlayAsDiskFull() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.playbook = PlaybookDouble(journal: journal, hangs: true)
        let build = try context(setup, journal)
        let pause = Task {
            try await Task.sleep(nanoseconds: 500_000_000)
            setup.guests.pausedOnIOError.withLock { $0 = true }
        }
        defer { pause.cancel() }
        let started = Date()
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.message.hasPrefix("disk full") == true, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(started) < 30, "the watch ended the play, not a timeout")
        #expect(setup.guests.running.isEmpty)
    }

    @Test func aFailedSealCheckExportsNothing() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.sealer = SealerDouble(journal: journal, checks: [.init(name: "units", passed: false, detail: "slurmd is not enabled")])
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .verifyFailed)
        #expect(error?.message.contains("slurmd is not enabled") == true)
        #expect(!journal.all.contains { $0.hasPrefix("qemu-img") })
        #expect(build.outputIfMade(\.export) == nil)
    }

    @Test func aFailedExportLeavesNoHalfWrittenImage() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.images = ImagesDouble(journal: journal, exportExitCode: 1)
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.message.contains("qemu-img convert exited 1") == true)
        #expect(journal.all.last == "qemu-img convert zstd", "no check of a failed export")
        for path in [build.paths.imagePartial, build.paths.image, build.paths.imageChecksum] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path)")
        }
    }

    @Test func aSecretInTheExportFailsTheScanAndTheExportGoes() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        let token = "kvmbuild-scan-double-" + UUID().uuidString
        setup.images = ImagesDouble(journal: journal, rawContent: Data(("free block: " + token).utf8))
        let build = try context(setup, journal)
        build.injectedSecrets = [InjectedSecret(name: "a secret var", fragments: [Array(token.utf8)])]
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .secretLeak, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: build.paths.image), "a leaking export is not kept")
        #expect(!FileManager.default.fileExists(atPath: build.paths.scanCopy))
    }

    @Test func aFailedCloudInitNamesCloudInit() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.shell = ShellDouble(journal, exitCodes: ["cloud-init status --wait": 1])
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .provisionFailed)
        #expect(error?.message.contains("cloud-init failed") == true)
        #expect(journal.all.contains("ssh cloud-init status --long"), "the long status is fetched for the message")
        #expect(!journal.all.contains { $0.hasPrefix("ansible-playbook") })
    }

    /// The boot watchdog, on both accelerators: a silent console and no sshd is "boot stalled";
    /// with kvm the fix names hardware virtualisation.
    @Test(arguments: [Accelerator.kvm, .tcg])
    func aSilentGuestTripsTheBootWatchdog(_ accelerator: Accelerator) async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.shell = ShellDouble(journal, answersAfter: nil)
        setup.accelerator = accelerator
        setup.bootWatchdog = 1
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .bootStalled)
        #expect(error?.message.hasPrefix("boot stalled") == true)
        #expect((error?.fix?.contains("hardware virtualisation") == true) == (accelerator == .kvm), "\(String(describing: error?.fix))")
        #expect(error?.cause is ConsoleTail, "the console's tail comes with it")
        #expect(setup.guests.running.isEmpty)
    }

    @Test func sshdThatNeverAcceptsTheLoginTimesOutNamingTheUser() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.shell = ShellDouble(journal, exitCodes: ["true": 255])
        setup.sshTimeout = 1
        let build = try context(setup, journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run(guestPath, build) }
        #expect(error?.code == .sshFailed)
        #expect(error?.message.contains("login as \(build.target.sshUser) failed") == true, "\(String(describing: error))")
    }

    @Test func aPhaseRunBeforeThePhaseItNeedsNamesThatPhase() async throws {
        let journal = ToolJournal()
        let build = try context(Setup(), journal)
        let error = await #expect(throws: KVMBuildError.self) { try await run([SecretScanPhase()], build) }
        #expect(error?.code == .internalError)
        #expect(error?.message.contains("export has not run") == true, "\(String(describing: error))")
        #expect(journal.all.isEmpty)
    }

    @Test func anOutputMadeTwiceIsAnInternalError() async throws {
        let build = try context(Setup(), ToolJournal())
        let error = #expect(throws: KVMBuildError.self) { try build.produce(\.accelerator, .kvm) }
        #expect(error?.code == .internalError)
        #expect(error?.message == "preflight made its output twice")
        #expect(try build.output(\.accelerator) == .tcg, "the first value stays")
    }

    @Test func aRetriedBootMakesItsPortAgain() async throws {
        let journal = ToolJournal()
        var setup = Setup()
        setup.guests = GuestDouble(startFailsOnce: true)
        setup.onError = .ask
        let build = try context(setup, journal)
        var runner = PipelineRunner(phases: [BootPhase(), ShutdownPhase()], interrupts: InterruptMonitor())
        runner.answers = .init(available: { true }, next: { "r" })
        try await runner.run(build)
        #expect(setup.guests.log.filter { $0.hasPrefix("start") }.count == 2)
        #expect(build.state.status == .succeeded)
        #expect(build.sshPort == build.state.sshPort, "the retry's port is the one recorded")
    }
}
