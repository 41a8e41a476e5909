import Foundation
import Testing
@testable import KVMBuild
import KVMBuildSupport
import Libvirt

/// Every way a build can fail must end in one error line naming a fix, a non-zero exit, and
/// nothing left behind. These boot real guests (TCG here), one at a time.
extension IntegrationTests {
@Suite(.serialized) struct FailurePathTests {
    @Test func wrongBaseChecksumFailsBeforeAnythingBoots() async throws {
        let wrong = String(repeating: "0", count: 64)
        let harness = try Harness(targets: Harness.targets("bad", playbook: "ansible/site.yml", checksum: "sha256:\(wrong)"))
        defer { harness.remove() }
        // A fresh cache, so the checksum is really checked (the shared one holds the good image).
        let result = try await harness.run(["build", "bad", "--cache-dir", harness.project + "/cache"])
        expectOneLineError(result, contains: "expected \(wrong)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: harness.project + "/cache/images")) ?? []).isEmpty)
        #expect(harness.states().isEmpty, "a build that never booted leaves no folder")
        try harness.expectNothingLeftBehind()

        // --on-error=abort before the boot: the hint says no guest runs, and clean removes what was kept.
        let aborted = try await harness.run(["build", "bad", "--cache-dir", harness.project + "/cache", "--on-error", "abort"])
        #expect(aborted.exitCode != 0)
        #expect(aborted.stderr.contains("no guest was started"), "\(aborted.stderr)")
        #expect(!aborted.stderr.contains("left the build running"))
        let kept = try #require(harness.states().first?.state.name)
        #expect(try await harness.run(["clean", kept]).exitCode == 0)
        #expect(harness.states().first?.state.status == .cleaned)
        try harness.expectNothingLeftBehind()
    }

    /// A base image that points at a file of the build host passes its checksum (the header is
    /// what was hashed) but is refused before any guest or overlay exists.
    @Test func aBaseImageThatPointsAtAHostFileIsRefusedBeforeBoot() async throws {
        let scratch = try Scratch("kvmbuild-hostile")
        let hostile = scratch.path + "/hostile.qcow2"
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", hostile, "2G"]))
        let sha = try Hashing.sha256(ofFile: hostile)
        let targets = """
        targets:
          hostile:
            base_image: { source: \(hostile), checksum: "sha256:\(sha)" }
            playbook: ansible/site.yml
            munge_key: \(Harness.mungeKey)
        """
        let harness = try Harness(targets: targets)
        defer { harness.remove() }
        let connection = try Connection(uri: "qemu:///system")
        let before = Set(try connection.allDomains().map(\.name))
        let result = try await harness.run(["build", "hostile", "--cache-dir", harness.project + "/cache"])
        expectOneLineError(result, contains: "backing file (/etc/passwd)")
        #expect(result.stderr.contains("qemu-img convert"), "the fix says how to make it standalone")
        let after = Set(try connection.allDomains().map(\.name))
        #expect(after.subtracting(before).filter { $0.hasPrefix("kvmbuild-hostile-") }.isEmpty, "no domain was ever created")
        #expect(!result.stderr.contains("==> boot"))
        try harness.expectNothingLeftBehind()

        // Names that would leave build/ are refused before anything is made.
        let escape = try Harness(targets: Harness.targets("../escape", playbook: "ansible/site.yml"))
        defer { escape.remove() }
        expectOneLineError(try await escape.run(["build", "../escape"]), contains: "target name '../escape' is not allowed")
        #expect(!FileManager.default.fileExists(atPath: escape.project + "/escape"))
    }

    @Test func badInputsAreRefusedWithTheFix() async throws {
        let harness = try Harness(targets: Harness.targets("nokey", playbook: "ansible/site.yml"))
        defer { harness.remove() }
        let missingKey = try await harness.run(["build", "nokey", "--munge-key", "/nonexistent/munge.key"])
        expectOneLineError(missingKey, contains: "munge key /nonexistent/munge.key")
        let short = harness.project + "/short.key"
        try Data(repeating: 1, count: 8).write(to: URL(fileURLWithPath: short))
        expectOneLineError(try await harness.run(["build", "nokey", "--munge-key", short]), contains: "8 bytes")
        expectOneLineError(try await harness.run(["build", "nosuchtarget"]), contains: "no target named 'nosuchtarget'")
        #expect(harness.states().isEmpty)
    }

    @Test func sshThatNeverLogsInFailsWithTheConsoleTail() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // Without the build key no login can succeed: any timeout shows the path, and a short one
        // keeps a guest from booting for nothing.
        let result = try await harness.run(["compute", "--testing-omit-build-key", "--ssh-timeout", "60"])
        expectOneLineError(result, contains: "SSH timeout")
        #expect(result.stderr.contains("console| "), "the console tail is shown")
        try harness.expectNothingLeftBehind()
        let folder = try #require(harness.states().first?.folder)
        #expect(FileManager.default.fileExists(atPath: folder + "/console.log"), "the console log is kept for debugging")
    }

    /// The guest also cuts the SSH session that waits for cloud-init, once, as cloud-init's own
    /// sshd restart can: the wait logs in again instead of calling cloud-init failed.
    @Test func failingPlaybookLeavesNothingBehind() async throws {
        let harness = try Harness(targets: Harness.targets("broken", playbook: "broken.yml"), extraFiles: [
            "broken.yml": """
            - hosts: builder
              gather_facts: false
              tasks:
                - name: A task that fails on purpose
                  ansible.builtin.command: /bin/false
            """,
        ], userDataAppendix: """
        runcmd:
          - [sh, -c, 'for i in $(seq 300); do if pgrep -f "cloud-init status --wai[t]" >/dev/null; then sleep 2; pkill -KILL -f "^sshd: [a-z0-9_-]+@notty"; exit 0; fi; sleep 1; done']

        """)
        defer { harness.remove() }
        let result = try await harness.run(["build", "broken"])
        expectOneLineError(result, contains: "ansible-playbook failed")
        #expect(result.stderr.contains("ssh dropped while waiting for cloud-init"))
        let folder = try #require(harness.states().first?.folder)
        let log = try String(contentsOfFile: folder + "/ansible.log", encoding: .utf8)
        #expect(log.contains("A task that fails on purpose"))
        #expect(harness.states().first?.state.status == .failed)
        try harness.expectNothingLeftBehind()
    }

    @Test func hungKVMGuestTripsTheBootWatchdog() async throws {
        let cpu = CPUVirtualization.parse(cpuinfo: try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
        try #require(cpu.ext == nil && FileManager.default.fileExists(atPath: "/dev/kvm"),
                     "needs a host whose /dev/kvm opens but cannot run guests, like CI's")
        let harness = try Harness()
        defer { harness.remove() }
        let result = try await harness.run(["compute", "--accel", "kvm", "--ignore-preflight", "--boot-watchdog", "40"], timeout: 600)
        // Hosts of this kind differ: a forced KVM guest hangs after the BIOS (the watchdog
        // catches it) or QEMU aborts at start ("failed to set MSR"). Both are honest outcomes and
        // both must name the cause; a hang (the timeout above), a crash or a leftover fails.
        let stalled = result.stderr.contains("boot stalled")
        let refused = result.stderr.contains("libvirt could not start the guest")
        #expect(stalled || refused, "\(result.stderr.suffix(2000))")
        expectOneLineError(result, contains: stalled ? "boot stalled" : "libvirt could not start the guest")
        #expect(result.stderr.contains("hardware virtualisation"), "the cause is named either way")
        #expect(result.exitCode == 1, "an error exit, not a crash (\(result.exitCode))")
        try harness.expectNothingLeftBehind()
    }

    @Test func plainKVMRequestIsRefusedByThePreflight() async throws {
        let cpu = CPUVirtualization.parse(cpuinfo: try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
        try #require(cpu.ext == nil)
        let harness = try Harness()
        defer { harness.remove() }
        let result = try await harness.run(["compute", "--accel", "kvm"])
        expectOneLineError(result, contains: "vmx/svm")
        try harness.expectNothingLeftBehind()
    }

    /// Two builds at once get different ports; SIGINT and SIGTERM mid-provision clean up both.
    @Test func concurrentBuildsInterruptedDuringProvision() async throws {
        let harness = try Harness(targets: Harness.targets("slow", playbook: "slow.yml"), extraFiles: [
            "slow.yml": """
            - hosts: builder
              gather_facts: false
              tasks:
                - name: Wait long enough to be interrupted
                  ansible.builtin.command: sleep 900
            """,
        ])
        defer { harness.remove() }
        // Two TCG guests on two cores: a console can stay silent longer than the default
        // 120 s boot watchdog allows, which is not what this test is about.
        let first = try harness.start(["build", "slow", "--boot-watchdog", "400"])
        let second = try harness.start(["build", "slow", "--boot-watchdog", "400"])
        defer { [first, second].filter(\.isRunning).forEach { kill($0.processIdentifier, SIGKILL) } }
        // Two TCG guests share two cores here: each boots about half as fast as one alone.
        try await harness.waitFor("both builds to reach provision", timeout: 1200) {
            // A build that ended on its own will never get there: stop waiting and say why.
            if let ended = [first, second].first(where: { !$0.isRunning }) {
                let output = harness.logs().compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n---\n")
                Issue.record("a build exited (\(ended.terminationStatus)) before provision: \(output.suffix(3000))")
                throw TimeoutError()
            }
            return harness.states().count == 2 && harness.states().allSatisfy { (try? String(contentsOfFile: $0.folder + "/ansible.log", encoding: .utf8))?.contains("Wait long enough") == true }
        }
        let ports = harness.states().compactMap(\.state.sshPort)
        #expect(ports.count == 2 && Set(ports).count == 2, "ports \(ports) must differ")
        // One package cache serves both (package_cache: auto), and the build that ends last stops it.
        let packageCache = AptCacherNG(cacheDirectory: Harness.cache)
        let cacheLines = harness.logs().compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .map { $0.split(separator: "\n").first { $0.hasPrefix("package cache: ") }.map(String.init) }
        #expect(cacheLines.count == 2 && Set(cacheLines).count == 1 && cacheLines.first??.contains("apt-cacher-ng on http://127.0.0.1:") == true, "\(cacheLines)")
        #expect(packageCache.daemonPID() != nil)
        kill(first.processIdentifier, SIGINT)
        kill(second.processIdentifier, SIGTERM)
        first.waitUntilExit()
        second.waitUntilExit()
        #expect(first.terminationStatus == 130)
        #expect(second.terminationStatus == 130)
        #expect(harness.states().allSatisfy { $0.state.status == .interrupted })
        #expect(packageCache.daemonPID() == nil, "the last build's end stopped the shared cache")
        try harness.expectNothingLeftBehind()
    }

    /// SIGKILL leaves leftovers: `list` shows the dead build, `clean` removes its leftovers and
    /// nothing of a healthy build running at the same time.
    @Test func killedBuildIsListedAndCleanedWithoutTouchingAHealthyOne() async throws {
        let harness = try Harness(targets: Harness.targets("slow", playbook: "ansible/site.yml"))
        defer { harness.remove() }
        let victim = try harness.start(["build", "slow"])
        let healthy = try harness.start(["build", "slow"])
        defer { [victim, healthy].filter(\.isRunning).forEach { kill($0.processIdentifier, SIGKILL) } }
        try await harness.waitFor("both guests to boot", timeout: 300) {
            harness.states().count == 2 && harness.states().allSatisfy { $0.state.sshPort != nil }
        }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        let dead = try #require(harness.states().first { $0.state.pid == victim.processIdentifier })
        let alive = try #require(harness.states().first { $0.state.pid == healthy.processIdentifier })
        let connection = try Connection(uri: "qemu:///system")
        #expect(try connection.domain(named: dead.state.domain) != nil, "SIGKILL gives no chance to clean up")

        let list = try await harness.run(["list"])
        let deadLine = list.stdout.split(separator: "\n").first { $0.hasPrefix(URL(fileURLWithPath: dead.folder).lastPathComponent) }
        #expect(deadLine?.contains("DEAD") == true, "\(list.stdout)")

        let clean = try await harness.run(["clean"])
        #expect(clean.exitCode == 0, "\(clean.stderr)")
        #expect(try connection.domain(named: dead.state.domain) == nil)
        #expect(!FileManager.default.fileExists(atPath: dead.folder + "/disk.qcow2"))
        #expect(!FileManager.default.fileExists(atPath: dead.folder + "/private"))
        #expect(try connection.domain(named: alive.state.domain) != nil, "the healthy build's guest must survive")
        #expect(FileManager.default.fileExists(atPath: alive.folder + "/disk.qcow2"))
        #expect(healthy.isRunning)
        #expect(AptCacherNG(cacheDirectory: Harness.cache).daemonPID() != nil, "clean leaves the package cache the healthy build still uses")

        // A dropped SSH session or closed terminal sends SIGHUP: the same cleanup as Ctrl-C.
        kill(healthy.processIdentifier, SIGHUP)
        healthy.waitUntilExit()
        #expect(healthy.terminationStatus == 130)
        let output = harness.logs().compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        #expect(output.contains("SIGHUP received: cleaning up"), "\(output.suffix(2000))")
        #expect(harness.states().first { $0.state.pid == healthy.processIdentifier }?.state.status == .interrupted)
        try harness.expectNothingLeftBehind()
    }

    /// libvirtd stops while the guest boots: the build fails at once with the fix, and once
    /// libvirtd is back, `clean` removes the guest the build could not.
    @Test func libvirtdStoppedMidBuildFailsClearlyAndCleansLater() async throws {
        let harness = try Harness(targets: Harness.targets("slow", playbook: "ansible/site.yml"))
        defer { harness.remove() }
        let build = try harness.start(["build", "slow"])
        defer { if build.isRunning { kill(build.processIdentifier, SIGKILL) } }
        try await harness.waitFor("the guest to boot", timeout: 300) {
            harness.logs().contains { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains("==> wait-for-ssh") == true }
        }
        let state = try #require(harness.states().first)

        try await LibvirtDaemon.whileStopped {
            try await harness.waitFor("the build to notice", timeout: 120) { !build.isRunning }
            build.waitUntilExit()
            #expect(build.terminationStatus != 0)
            let log = try String(contentsOfFile: try #require(harness.logs().first), encoding: .utf8)
            let errors = log.split(separator: "\n").filter { $0.hasPrefix("error: ") }
            #expect(errors.last?.contains("lost the connection to libvirt") == true, "\(log.suffix(2000))")
            #expect(errors.last?.contains("kvmbuild clean \(URL(fileURLWithPath: state.folder).lastPathComponent)") == true)
        }

        // libvirtd is back and re-attached to the running guest: clean removes it.
        let connection = try Connection(uri: "qemu:///system")
        #expect(try connection.domain(named: state.state.domain) != nil, "the guest outlived the build, as expected")
        let clean = try await harness.run(["clean"])
        #expect(clean.exitCode == 0, "\(clean.stderr)")
        #expect(try connection.domain(named: state.state.domain) == nil)
        try harness.expectNothingLeftBehind()
    }

    /// A build folder on a file system too small for a build is refused by the preflight.
    /// One that fills up mid-build (another writer takes the space while the play runs): QEMU
    /// pauses the guest on ENOSPC, the build says "disk full" with the fix at once (no play
    /// left hanging on a frozen guest), removes what it made, and publishes nothing as latest.
    @Test func fullBuildFolderFailsAsDiskFullAndPublishesNothing() async throws {
        let harness = try Harness(targets: Harness.targets("fill", playbook: "fill.yml"), extraFiles: [
            "fill.yml": """
            - hosts: builder
              gather_facts: false
              tasks:
                - name: Write more than the build folder has left
                  ansible.builtin.shell: head -c 300M /dev/urandom > /var/tmp/fill && sync
                  changed_when: true
            """,
        ])
        defer { harness.remove() }
        do {
            let tiny = try await SmallFileSystem(at: harness.buildDir, mib: 160)
            defer { tiny.remove() }
            expectOneLineError(try await harness.run(["build", "fill"]), contains: "free at \(harness.buildDir)")
        }

        // Big enough for the preflight (sparse, so it costs the host nothing), then filled.
        let disk = try await SmallFileSystem(at: harness.buildDir, mib: 5 * 1024)
        defer { disk.remove() }
        let build = try harness.start(["build", "fill"])
        defer { if build.isRunning { kill(build.processIdentifier, SIGKILL) } }
        try await harness.waitFor("the play to start", timeout: 600) {
            !build.isRunning || harness.logs().contains { (try? String(contentsOfFile: $0, encoding: .utf8))?.contains("==> provision") == true }
        }
        try #require(build.isRunning, "the build ended before its play: \((try? String(contentsOfFile: harness.logs().first ?? "", encoding: .utf8)) ?? "")")
        try await disk.fill(leavingMiB: 16)
        try await harness.waitFor("the build to fail", timeout: 300) { !build.isRunning }
        build.waitUntilExit()
        let log = try String(contentsOfFile: try #require(harness.logs().first), encoding: .utf8)
        expectOneLineError(ProcessResult(exitCode: build.terminationStatus, stdout: "", stderr: log), contains: "disk full")
        #expect(!FileManager.default.fileExists(atPath: harness.buildDir + "/fill-latest"), "a failed build is never latest")
        try harness.expectNothingLeftBehind()
    }

    /// Interrupted (cancelled, as a signal does) right after each phase up to SSH (provision has its own signal test
    /// above; the export is interrupted in LatePhaseTests): each run undoes everything.
    @Test func interruptAfterEachEarlyPhaseLeavesNothing() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let target = try TargetsFile.load(path: harness.project + "/kvmbuild.yml").target("compute")
        let early = Array(BuildPlan.phases.prefix { $0.name != "provision" })
        #expect(early.map(\.name) == ["preflight", "base-image", "config-drive", "boot", "wait-for-ssh"])
        for (index, phase) in early.enumerated() {
            let phases = Array(early.prefix(index)) + [CancelAfter(phase: phase)]
            try await expectInterrupted(during: phase.name, harness) {
                _ = try await Builder.run(target: target, options: testOptions(harness), phases: phases)
            }
        }
    }
}
}
