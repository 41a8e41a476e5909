import Foundation
import KVMBuildSupport

/// Proves the export carries none of the secrets the build handed out, in any of the encodings
/// they were delivered in, except the munge key in /etc/munge/munge.key: deleted files leave
/// their blocks behind, and anyone who can download the image from Glance could carve them out.
/// The scan reads the image as a guest would see its disk (a sparse raw copy, zero clusters left
/// as holes), once, for every secret at the same time.
struct SecretScanPhase: BuildPhase {
    let name = "secret-scan"

    func run(_ build: BuildContext) async throws {
        let export = try build.output(\.export)
        let raw = build.paths.scanCopy
        // The copy holds the munge key: private (umask), inside the build folder, gone on every path.
        build.addCleanup("remove the scan copy") { try? FileManager.default.removeItem(atPath: raw) }
        defer { try? FileManager.default.removeItem(atPath: raw) }
        try await build.tools.images.rawCopy(export.path, to: raw)
        // The raw munge key may be in munge.key's own blocks and nowhere else; if the seal could
        // not locate them, the scan can only count (at most one copy).
        let place = build.mungeKeyOnDisk
        if place == nil, build.target.mungeKey != nil {
            build.console.warning("could not locate /etc/munge/munge.key's blocks; the secret scan only counts the key's copies (at most one)")
        }
        let secrets = build.injectedSecrets.map { secret in
            secret.name == InjectedSecret.mungeKeyRawName ? place.map { secret.allowed(onlyIn: $0) } ?? secret : secret
        }
        let report = try await runBlocking { try SecretScanner.scan(file: raw, for: secrets) }
        build.secretScan = report
        guard report.passed else {
            throw KVMBuildError(.secretLeak, "\(report.summary) in the exported image",
                                fix: "nothing was published; the seal must leave no copy of them (free space is trimmed; a play that writes a secret elsewhere must remove it)")
        }
        build.console.info(String(format: "%@ (%.1f s)", report.summary, report.seconds))
    }
}
