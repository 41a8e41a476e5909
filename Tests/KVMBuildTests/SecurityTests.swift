import Foundation
import Testing
@testable import Ansible
@testable import Glance
@testable import KVMBuild
@testable import KVMBuildCommands
import KVMBuildSupport
import Synchronization

/// Secrets and untrusted inputs, without a guest: the scanner, hostile base images, private
/// files, extra vars off argv, names, visibility and redirects.
@Suite struct SecretScannerTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-scan") }

    /// A sparse file with `bytes` written at each offset.
    func sparse(_ name: String, size: Int64, writes: [(Int64, [UInt8])]) throws -> String {
        let path = scratch.path + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(ftruncate(fd, off_t(size)) == 0)
        for (offset, bytes) in writes { #expect(pwrite(fd, bytes, bytes.count, off_t(offset)) == bytes.count) }
        return path
    }

    @Test func findsAPlantedSecretAnywhereEvenAcrossReadChunks() throws {
        let token = Array("kvmbuild-planted-token-0123456789abcdef".utf8)
        let chunk = Int64(SecretScanner.chunkSize)
        // One copy straddles the first chunk boundary, one sits far into a later extent.
        let path = try sparse("disk.raw", size: 3 * chunk, writes: [(chunk - 10, token), (2 * chunk + 4096 * 7, token)])
        let secret = InjectedSecret(name: "test token", fragments: [token])
        let report = try SecretScanner.scan(file: path, for: [secret])
        #expect(report.results == [.init(secret: "test token", occurrences: 2, allowed: 0)])
        #expect(!report.passed)
        #expect(report.summary.contains("test token found 2x"))
        #expect(report.bytesScanned < 3 * chunk, "holes are not read")
    }

    @Test func allowsTheMungeKeyOnceAndNeverItsBase64() throws {
        var generator = SystemRandomNumberGenerator()
        let key = Data((0..<1024).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let base64 = Array(key.base64EncodedString().utf8)
        let once = try sparse("once.raw", size: 1 << 24, writes: [(8192, Array(key))])
        let secrets = InjectedSecret.mungeKey(key, carriedByImage: true)
        #expect(try SecretScanner.scan(file: once, for: secrets).passed)

        let twice = try sparse("twice.raw", size: 1 << 24, writes: [(8192, Array(key)), (1 << 20, Array(key))])
        let report = try SecretScanner.scan(file: twice, for: secrets)
        #expect(report.leaks.map(\.secret) == [secrets[0].name])

        let encoded = try sparse("b64.raw", size: 1 << 24, writes: [(8192, Array(key)), (1 << 21, Array(base64[100..<400]))])
        #expect(try SecretScanner.scan(file: encoded, for: secrets).leaks.map(\.secret) == [secrets[1].name], "a partial base64 copy is found")
    }

    @Test func theMungeKeyIsAllowedOnlyInMungeKeysOwnBlocks() throws {
        var generator = SystemRandomNumberGenerator()
        let key = Data((0..<1024).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let home: Int64 = 40 * 4096
        let secrets = InjectedSecret.mungeKey(key, carriedByImage: true).map { $0.name == InjectedSecret.mungeKeyRawName ? $0.allowed(onlyIn: [home..<home + 4096]) : $0 }
        let inPlace = try sparse("placed.raw", size: 1 << 22, writes: [(home, Array(key))])
        let placed = try SecretScanner.scan(file: inPlace, for: secrets)
        #expect(placed.passed)
        #expect(placed.results.first { $0.secret == InjectedSecret.mungeKeyRawName }?.inPlace == 1)
        // One copy, but not where munge.key is: a leak, though a mere count would have allowed it.
        let moved = try sparse("moved.raw", size: 1 << 22, writes: [(home + 8 * 4096, Array(key))])
        #expect(try SecretScanner.scan(file: moved, for: secrets).leaks.map(\.secret) == [InjectedSecret.mungeKeyRawName])
    }

    @Test func filefragOutputGivesTheFilesBlocks() {
        let text = """
        Filesystem type is: ef53
        File size of /etc/munge/munge.key is 1024 (1 block of 4096 bytes)
         ext:     logical_offset:        physical_offset: length:   expected: flags:
           0:        0..       0:     123456..    123456:      1:             last,eof
        /etc/munge/munge.key: 1 extent found
        """
        #expect(FileExtents.parse(filefrag: text) == [Int64(123456 * 4096)..<Int64(123457 * 4096)])
        let two = """
        File size of /x is 8192 (2 blocks of 4096 bytes)
         ext:     logical_offset:        physical_offset: length:   expected: flags:
           0:        0..       0:        100..       100:      1:
           1:        1..       1:        300..       300:      1:        101: last,eof
        """
        #expect(FileExtents.parse(filefrag: two) == [409600..<413696, 1228800..<1232896])
        #expect(FileExtents.parse(filefrag: "filefrag: not supported") == nil)
    }

    @Test func aPrivateKeyIsSoughtByItsBodyLinesAsTheUserDataCarriesThem() throws {
        let pem = """
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
        QyNTUxOQAAACBz0mFhbW9ua2V5c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0AAAAoJk2qEuZ
        -----END OPENSSH PRIVATE KEY-----
        """
        let secret = InjectedSecret.privateKey(pem, name: "host key")
        #expect(secret.fragments.count == 1, "the generic first line is not a fragment")
        // As YAML's block scalar stores it: indented lines.
        let yaml = Array("ssh_keys:\n  ed25519_private: |\n    " .utf8) + Array(pem.replacingOccurrences(of: "\n", with: "\n    ").utf8)
        let path = try sparse("ud.raw", size: 1 << 22, writes: [(4096 * 3, yaml)])
        #expect(try SecretScanner.scan(file: path, for: [secret]).results.first?.occurrences == 1)
    }

    @Test func shortSecretValuesAreNamedNotScanned() throws {
        let file = scratch.path + "/secrets.yml"
        try "db_password: s3cr3t-Value-long\npin: '12'\nnested: { token: abcdefghijkl }\n".write(toFile: file, atomically: true, encoding: .utf8)
        let vars = try SecretVars.load(file)
        #expect(vars.values == ["db_password": "s3cr3t-Value-long", "pin": "12", "nested.token": "abcdefghijkl"])
        #expect(vars.tooShortToScan == ["pin"])
        #expect(vars.secrets.map(\.name).sorted() == ["secret var db_password", "secret var nested.token"])
    }
}

@Suite struct UntrustedInputTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-untrusted") }

    @Test func aQcow2ThatPointsAtAHostFileIsRefused() async throws {
        let hostile = scratch.path + "/hostile.qcow2"
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname", hostile, "64M"]))
        let header = try DiskImageHeader.read(hostile)
        #expect(header.backingFile == "/etc/hostname")
        #expect(header.pointerProblem?.contains("backing file (/etc/hostname)") == true)

        let dataFile = scratch.path + "/datafile.qcow2"
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "data_file=\(scratch.path)/data.raw", dataFile, "64M"]))
        #expect(try DiskImageHeader.read(dataFile).pointerProblem?.contains("external data file") == true)

        let plain = scratch.path + "/plain.qcow2"
        try await ProcessRunner.checked(ProcessSpec("qemu-img", ["create", "-q", "-f", "qcow2", plain, "64M"]))
        #expect(try DiskImageHeader.read(plain).pointerProblem == nil)
        #expect(try DiskImageHeader.read(plain).format == .qcow2)

        // Upload refuses it before any cloud is contacted.
        #expect(throws: KVMBuildError.self) { try ImageUploader.checkQcow2(hostile) }
        #expect(try ImageUploader.checkQcow2(plain) > 0)
    }

    @Test func aTamperedCacheEntryIsCaughtAndFetchedAgain() async throws {
        let source = scratch.path + "/base.img"
        try Data(repeating: 1, count: 1 << 20).write(to: URL(fileURLWithPath: source))
        let sha = try Hashing.sha256(ofFile: source)
        let cache = ImageCache(cacheDirectory: scratch.path + "/cache")
        let first = try await cache.fetch(source: source, checksum: "sha256:\(sha)", console: Console())
        var st = stat()
        #expect(stat(first.path, &st) == 0 && st.st_mode & 0o777 == 0o400, "cache entries are read-only")
        #expect(stat(scratch.path + "/cache", &st) == 0 && st.st_mode & 0o777 == 0o700)
        chmod(first.path, 0o600)
        try Data(repeating: 2, count: 1 << 20).write(to: URL(fileURLWithPath: first.path))
        let again = try await cache.fetch(source: source, checksum: "sha256:\(sha)", console: Console())
        #expect(try Hashing.sha256(ofFile: again.path) == sha, "the tampered entry was replaced by a verified copy")
    }

    @Test func targetAndOutputNamesMustBePlainFileNames() {
        for bad in ["../x", "x/y", ".hidden", "-rf", "", "a b", "tab\t"] { #expect(!TargetValidator.isSafeName(bad), "\(bad)") }
        for good in ["compute", "compute-base", "gpu_node.v2", "C0"] { #expect(TargetValidator.isSafeName(good), "\(good)") }
    }

    @Test func publicVisibilityIsRefusedForAnImageWithAMungeKey() throws {
        #expect(throws: KVMBuildError.self) { try UploadOptions.checkVisibility("public", carriesMungeKey: true, allowed: false) }
        #expect(throws: KVMBuildError.self) { try UploadOptions.checkVisibility("community", carriesMungeKey: true, allowed: false) }
        try UploadOptions.checkVisibility("public", carriesMungeKey: true, allowed: true)
        try UploadOptions.checkVisibility("shared", carriesMungeKey: true, allowed: false)
        try UploadOptions.checkVisibility("public", carriesMungeKey: false, allowed: false)
        do {
            try UploadOptions.checkVisibility("public", carriesMungeKey: true, allowed: false)
        } catch let error as KVMBuildError {
            #expect(error.description.contains("munge key") && error.description.contains("--allow-public-munge-key"))
        }
    }
}

@Suite struct PrivateFilesTests {
    let scratch: Scratch
    init() throws { scratch = try Scratch("kvmbuild-private") }

    @Test func buildFoldersArePrivateAndTheControlSocketLivesInside() throws {
        let buildDir = scratch.path + "/build"
        try FileManager.default.createDirectory(atPath: buildDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let paths = try BuildFolder.create(in: buildDir, name: "compute-1")
        var st = stat()
        #expect(stat(buildDir, &st) == 0 && st.st_mode & 0o777 == 0o700, "an open build/ is tightened")
        #expect(stat(paths.root, &st) == 0 && st.st_mode & 0o777 == 0o700)
        let control = try #require(paths.controlPath)
        #expect(control.hasPrefix(paths.privateDirectory + "/"))
        let inventory = Inventory(hostName: "h", port: 2222, user: "u", privateKeyPath: paths.buildKey, knownHostsPath: paths.knownHosts,
                                  controlPath: paths.controlPath, parentGroups: ["compute"])
        #expect(inventory.render().contains("ControlPath=\(control)"))
        #expect(!inventory.render().contains("/tmp/kvmb-"), "no socket in a folder every user can write to")
        // Too deep for a socket: no ControlPath of ours (Ansible's ~/.ansible/cp is private too).
        let deep = BuildPaths(root: "/" + String(repeating: "d", count: 90), name: "x")
        #expect(deep.controlPath == nil)
    }

    @Test func anOutputGroupSharesWhatABuildPublishes() throws {
        let gid = getegid()
        let name = String(cString: getgrgid(gid).pointee.gr_name)
        #expect(try BuildFolder.groupID(name) == gid)
        #expect(throws: KVMBuildError.self) { _ = try BuildFolder.groupID("no-such-group-kvmbuild") }
        let paths = try BuildFolder.create(in: scratch.path + "/shared", name: "compute-1", group: gid)
        var st = stat()
        #expect(stat(paths.root, &st) == 0 && st.st_mode & 0o777 == 0o750 && st.st_gid == gid)
        #expect(stat(scratch.path + "/shared", &st) == 0 && st.st_mode & 0o777 == 0o750)
        _ = FileManager.default.createFile(atPath: paths.manifest, contents: Data("{}".utf8))
        BuildFolder.share(paths, group: gid)
        #expect(stat(paths.manifest, &st) == 0 && st.st_mode & 0o777 == 0o640)
        #expect(!FileManager.default.fileExists(atPath: paths.image), "share touches only what exists")
    }

    @Test func extraVarsTravelInAPrivateFileNeverOnArgv() throws {
        let file = scratch.path + "/extra-vars.json"
        var play = PlaybookRun(playbook: scratch.path + "/site.yml", inventories: ["inv"], extraVars: ["db_password": "hunter2-secret"],
                               logPath: scratch.path + "/ansible.log")
        #expect(throws: KVMBuildError.self) { _ = try play.processSpec(colour: false) }
        play.extraVarsFile = file
        let spec = try play.processSpec(colour: false)
        #expect(!spec.description.contains("hunter2"))
        #expect(spec.arguments.contains("@\(file)"))
        try play.writeExtraVars()
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("hunter2-secret"))
    }

    @Test func secretValuesAreRedactedFromThePlaysOutputAndLog() async throws {
        let playbook = scratch.path + "/site.yml"
        try """
        - hosts: localhost
          gather_facts: false
          tasks:
            - debug: { msg: "the password is {{ db_password }}" }
        """.write(toFile: playbook, atomically: true, encoding: .utf8)
        let secrets = scratch.path + "/secrets.yml"
        try "db_password: correct-horse-battery\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        var play = PlaybookRun(playbook: playbook, inventories: ["localhost,"], varFiles: [secrets], limit: nil, logPath: scratch.path + "/ansible.log")
        play.redactions = ["correct-horse-battery"]
        let seen = Mutex<[String]>([])
        let code = try await play.run(colour: false) { line in seen.withLock { $0.append(line) } }
        #expect(code == 0)
        let log = try String(contentsOfFile: scratch.path + "/ansible.log", encoding: .utf8)
        #expect(log.contains("the password is ********"), "the task ran and its line was redacted")
        #expect(!log.contains("correct-horse-battery"))
        #expect(!seen.withLock { $0.joined() }.contains("correct-horse-battery"))
    }
}

@Suite struct RedirectTests {
    @Test func onlySameOriginRedirectsAreFollowed() {
        let base = URL(string: "https://cloud.example:9292/v2/images")!
        #expect(HTTP.sameOrigin(base, URL(string: "https://cloud.example:9292/v2/other")!))
        #expect(HTTP.sameOrigin(base, URL(string: "https://CLOUD.example:9292/x")!))
        #expect(!HTTP.sameOrigin(base, URL(string: "http://cloud.example:9292/v2/images")!), "never from https to http")
        #expect(!HTTP.sameOrigin(base, URL(string: "https://evil.example:9292/v2/images")!))
        #expect(!HTTP.sameOrigin(base, URL(string: "https://cloud.example:443/v2/images")!))
        #expect(HTTP.sameOrigin(URL(string: "https://a/x")!, URL(string: "https://a:443/y")!))
    }

    @Test func htmlErrorPagesBecomeOneLineOfText() {
        let page = Data("<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>You are not authorized to complete publicize_image action.<br /><br /></body></html>".utf8)
        let response = HTTP.Response(status: 403, headers: [:], body: page)
        #expect(response.plainMessage == "403 Forbidden You are not authorized to complete publicize_image action.")
        #expect(throws: KVMBuildError.self) { _ = try response.require([201], "creating image x", fix: "check the properties") }
        do { _ = try response.require([201], "creating image x", fix: "check the properties") } catch let error as KVMBuildError {
            #expect(error.fix?.contains("policy") == true && !(error.fix?.contains("properties") ?? true))
        } catch {}
    }
}

/// `--verbose` prints every command kvmbuild runs, with the values it knows to be secret masked.
@Suite struct VerboseCommandTests {
    @Test func commandsAreLoggedAndSecretVarValuesMasked() async throws {
        let scratch = try Scratch("kvmbuild-verbose")
        let secret = "verbose-secret-\(UUID().uuidString.prefix(6))"
        try "db_password: \(secret)\n".write(toFile: scratch.path + "/secret.yml", atomically: true, encoding: .utf8)
        _ = try SecretVars.load(scratch.path + "/secret.yml")
        #expect(Redactions.apply(to: "echo \(secret) done") == "echo ******** done")

        let result = try await ProcessRunner.run(ProcessSpec(Harness.binary, ["validate", "--file", Harness.repo + "/kvmbuild.yml", "--verbose"]))
        #expect(result.stderr.contains("debug: $ ansible-playbook"), "the syntax check's command line is shown: \(result.stderr)")
        let quiet = try await ProcessRunner.run(ProcessSpec(Harness.binary, ["validate", "--file", Harness.repo + "/kvmbuild.yml"]))
        #expect(!quiet.stderr.contains("debug: $"))
    }

    /// --help is ArgumentParser's text and exit 0, for the tool and for every verb, not an error.
    @Test func helpIsHelpForEveryVerb() async throws {
        for arguments in [["--help"], ["compute", "--help"], ["build", "--help"], ["help", "test"]] {
            let result = try await ProcessRunner.run(ProcessSpec(Harness.binary, arguments))
            #expect(result.exitCode == 0 && result.stdout.contains("USAGE: kvmbuild"), "\(arguments): \(result.stdout.prefix(200)) \(result.stderr)")
            #expect(!result.stderr.contains("error"), "\(arguments): \(result.stderr)")
        }
        let compute = try await ProcessRunner.run(ProcessSpec(Harness.binary, ["compute", "--help"]))
        #expect(compute.stdout.contains("--package-cache"))
    }
}
