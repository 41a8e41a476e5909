import Foundation
import Synchronization
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Libvirt

/// The runner's own logic, with phases that are test doubles (no guest, no libvirt): the order
/// phases run in, which cleanups run and in what order on success, failure and cancellation at
/// every phase, each on-error policy including `ask`'s answers, the timings and the states.
@Suite struct PipelineRunnerTests {
    /// What the doubles did, in order: "run A", "undo A", "undo A (failure only)".
    final class Journal: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    enum Behaviour: Sendable { case succeed, fail, failOnce, hang }

    /// A phase that registers two cleanups the way real phases do (one always, one only on
    /// failure), then behaves as told.
    final class Double: BuildPhase {
        let name: String
        let journal: Journal
        let behaviour: Behaviour
        let attempts = Mutex(0)

        init(_ name: String, _ journal: Journal, _ behaviour: Behaviour = .succeed) {
            self.name = name
            self.journal = journal
            self.behaviour = behaviour
        }

        func run(_ build: BuildContext) async throws {
            let attempt = attempts.withLock { $0 += 1; return $0 }
            journal.add("run \(name)")
            let name = self.name, journal = self.journal
            build.addCleanup("undo \(name)") { journal.add("undo \(name)") }
            build.addCleanup("undo \(name) on failure", onlyOnFailure: true) { journal.add("undo \(name) (failure only)") }
            switch behaviour {
            case .succeed: return
            case .fail: throw KVMBuildError(.provisionFailed, "\(name) broke", fix: "fix \(name)")
            case .failOnce: if attempt == 1 { throw KVMBuildError(.provisionFailed, "\(name) broke once", fix: "retry") }
            case .hang: try await Task.sleep(nanoseconds: 60_000_000_000)
            }
        }
    }

    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-runner") }

    func context(onError: OnErrorPolicy = .cleanup) throws -> BuildContext {
        var options = BuildOptions(buildDirectory: scratch.path + "/build", cacheDirectory: scratch.path + "/cache", projectDirectory: scratch.path)
        options.onError = onError
        let target = try TargetsFile.load(path: Harness.repo + "/kvmbuild.yml").target("compute")
        let paths = try BuildFolder.create(in: options.buildDirectory, name: "compute-test-\(UUID().uuidString.prefix(6))")
        let quiet = Console()
        quiet.minimumLevel = .error
        return BuildContext(target: target, options: options, id: "test", paths: paths, console: quiet)
    }

    func run(_ phases: [any BuildPhase], _ build: BuildContext, answers: [String]? = nil) async throws {
        var runner = PipelineRunner(phases: phases, interrupts: InterruptMonitor())
        if let answers {
            let queue = Mutex(answers)
            runner.answers = .init(available: { true }, next: { queue.withLock { $0.isEmpty ? nil : $0.removeFirst() } })
        }
        try await runner.run(build)
    }

    /// The state the runner saved: from state.json while the folder exists (a failed build
    /// without logs drops its folder), else the one it holds.
    func savedState(_ build: BuildContext) throws -> BuildState { BuildState.load(build.paths.state) ?? build.state }

    @Test func phasesRunInOrderAndOnlyAlwaysCleanupsRunNewestFirstOnSuccess() async throws {
        let journal = Journal()
        let build = try context()
        try await run(["A", "B", "C"].map { Double($0, journal) }, build)
        #expect(journal.all == ["run A", "run B", "run C", "undo C", "undo B", "undo A"])
        #expect(build.timings.map(\.phase) == ["A", "B", "C"])
        #expect(build.timings.allSatisfy { $0.seconds >= 0 })
        #expect(try savedState(build).status == .succeeded)
        #expect(try savedState(build).failure == nil)
    }

    @Test(arguments: 0..<3) func aFailureAtAnyPhaseUndoesExactlyWhatExistsNewestFirst(failing: Int) async throws {
        let journal = Journal()
        let build = try context()
        let names = ["A", "B", "C"]
        let phases = names.enumerated().map { Double($1, journal, $0 == failing ? .fail : .succeed) }
        let error = await #expect(throws: KVMBuildError.self) { try await run(phases, build) }
        #expect(error?.message == "\(names[failing]) broke")
        var expected = names.prefix(failing + 1).map { "run \($0)" }
        for name in names.prefix(failing + 1).reversed() { expected += ["undo \(name) (failure only)", "undo \(name)"] }
        #expect(journal.all == expected)
        let state = try savedState(build)
        #expect(state.status == .failed)
        #expect(state.failure?.phase == names[failing])
        #expect(state.failure?.fix == "fix \(names[failing])")
        #expect(build.timings.map(\.phase) == Array(names.prefix(failing)), "only finished phases are timed")
    }

    @Test func aFailedBuildWithLogsKeepsItsStateWithTheReason() async throws {
        let build = try context()
        try Data("booted\n".utf8).write(to: URL(fileURLWithPath: build.paths.consoleLog))
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", Journal(), .fail)], build) }
        let state = try #require(BuildState.load(build.paths.state), "kvmbuild list reads state.json")
        #expect(state.status == .failed && state.failure?.error == "A broke")

        let bare = try context()
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", Journal(), .fail)], bare) }
        #expect(!FileManager.default.fileExists(atPath: bare.paths.root), "nothing worth reading: the folder goes")
    }

    @Test(arguments: 0..<3) func cancellingDuringAnyPhaseUndoesEverythingAndSaysInterrupted(hanging: Int) async throws {
        let journal = Journal()
        let build = try context()
        let names = ["A", "B", "C"]
        let phases = names.enumerated().map { Double($1, journal, $0 == hanging ? .hang : .succeed) }
        let task = Task { try await run(phases, build) }
        while !journal.all.contains("run \(names[hanging])") { try await Task.sleep(nanoseconds: 10_000_000) }
        task.cancel()
        let error = await #expect(throws: KVMBuildError.self) { try await task.value }
        #expect(error?.code == .interrupted)
        #expect(journal.all.filter { $0.hasPrefix("undo") }.count == 2 * (hanging + 1), "\(journal.all)")
        #expect(journal.all.last == "undo A")
        #expect(try savedState(build).status == .interrupted)
    }

    /// What the E2E's broken-test target showed with a guest, without one: a build whose test
    /// phase fails never reaches the real publish phase, so it is neither manifest nor latest.
    @Test func aFailedTestPhasePublishesNothingAndIsNeverLatest() async throws {
        let names = BuildPlan.phases.map(\.name)
        #expect(names.suffix(2) == ["test", "publish"], "publishing comes only after the boot test: \(names)")
        let journal = Journal()
        let build = try context()
        let error = await #expect(throws: KVMBuildError.self) { try await run([Double("export", journal), Double("test", journal, .fail), PublishPhase()], build) }
        #expect(error?.message == "test broke")
        #expect(journal.all.filter { $0.hasPrefix("run") } == ["run export", "run test"])
        #expect(try savedState(build).failure?.phase == "test")
        #expect(build.manifest == nil)
        #expect(!FileManager.default.fileExists(atPath: build.options.buildDirectory + "/compute-latest"), "a failed test is never latest")
        #expect(!FileManager.default.fileExists(atPath: build.paths.manifest))
    }

    @Test func abortLeavesEverythingInPlace() async throws {
        let journal = Journal()
        let build = try context(onError: .abort)
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", journal), Double("B", journal, .fail), Double("C", journal)], build) }
        #expect(journal.all == ["run A", "run B"], "no cleanup ran and C never started")
        #expect(try savedState(build).status == .aborted)
        // What abort kept is still undone when the user cleans up (kvmbuild clean runs the same registry).
        await build.runCleanups(failed: true)
        #expect(journal.all.suffix(4) == ["undo B (failure only)", "undo B", "undo A (failure only)", "undo A"])
    }

    @Test func askRetryRunsThePhaseAgainAfterAnUnknownAnswer() async throws {
        let journal = Journal()
        let build = try context(onError: .ask)
        try await run([Double("A", journal), Double("B", journal, .failOnce), Double("C", journal)], build, answers: ["what", "s", "r"])
        #expect(journal.all.filter { $0.hasPrefix("run") } == ["run A", "run B", "run B", "run C"])
        #expect(try savedState(build).status == .succeeded)
        #expect(build.timings.map(\.phase) == ["A", "B", "C"])
    }

    @Test func askAnswersCleanupAndAbort() async throws {
        let journalC = Journal(), journalA = Journal()
        let cleaned = try context(onError: .ask)
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", journalC), Double("B", journalC, .fail)], cleaned, answers: ["c"]) }
        #expect(journalC.all.last == "undo A")
        #expect(try savedState(cleaned).status == .failed)

        let aborted = try context(onError: .ask)
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", journalA), Double("B", journalA, .fail)], aborted, answers: ["a"]) }
        #expect(journalA.all == ["run A", "run B"])
        #expect(try savedState(aborted).status == .aborted)
    }

    @Test func askWithoutATerminalOrAfterEndOfInputCleansUp() async throws {
        let journal = Journal()
        let build = try context(onError: .ask)
        var runner = PipelineRunner(phases: [Double("A", journal, .fail)], interrupts: InterruptMonitor())
        runner.answers = .init(available: { false }, next: { Issue.record("asked without a terminal"); return nil })
        await #expect(throws: KVMBuildError.self) { try await runner.run(build) }
        #expect(journal.all.last == "undo A")

        let ended = Journal()
        let again = try context(onError: .ask)
        await #expect(throws: KVMBuildError.self) { try await run([Double("A", ended, .fail)], again, answers: []) }
        #expect(ended.all.last == "undo A", "end of input means clean up")
    }

    @Test func libvirtErrorsSayLostOnlyWhenTheConnectionIsGone() async throws {
        struct LibvirtPhase: BuildPhase {
            let name = "boot"
            let error: LibvirtError
            func run(_ build: BuildContext) async throws { throw error }
        }
        // virterror.h: VIR_ERR_OPERATION_FAILED 9 from VIR_FROM_QEMU 10; VIR_ERR_SYSTEM_ERROR 38 from VIR_FROM_RPC 7.
        let refused = LibvirtError(operation: "virDomainCreateXML", code: 9, domain: 10, message: "no")
        let lost = LibvirtError(operation: "virDomainLookupByName", code: 38, domain: 7, message: "End of file while reading data")
        let first = await #expect(throws: KVMBuildError.self) { try await run([LibvirtPhase(error: refused)], try context()) }
        #expect(first?.message == "boot: libvirt refused virDomainCreateXML")
        #expect((first?.cause as? LibvirtError)?.code == refused.code, "libvirt's code is kept")
        let second = await #expect(throws: KVMBuildError.self) { try await run([LibvirtPhase(error: lost)], try context()) }
        #expect(second?.message == "boot: lost the connection to libvirt")
    }

    @Test func aForeignErrorIsReportedWithItsPhaseAndAFix() async throws {
        struct Odd: Error {}
        struct OddPhase: BuildPhase {
            let name = "odd"
            func run(_ build: BuildContext) async throws { throw Odd() }
        }
        let build = try context()
        let error = await #expect(throws: KVMBuildError.self) { try await run([OddPhase()], build) }
        #expect(error?.message == "odd failed")
        #expect(error?.cause is Odd, "the cause keeps its type")
        #expect(error?.fix?.isEmpty == false)
        #expect(try savedState(build).failure?.phase == "odd")
    }
}
