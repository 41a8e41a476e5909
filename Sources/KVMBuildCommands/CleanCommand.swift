import ArgumentParser
import KVMBuild
import KVMBuildSupport

/// `kvmbuild clean [BUILD]`: remove what dead builds and killed `kvmbuild test` runs left
/// (domains, overlays, ISOs, keys).
struct CleanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove the leftovers of dead builds and killed test runs (domains, overlays, ISOs, keys); live ones are never touched.")

    @Argument(help: "A build folder name or id; default: every dead build.")
    var build: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions

    func run() async throws {
        output.apply()
        let registry = BuildRegistry(buildDirectory: host.resolvedBuildDir, libvirtURI: host.libvirtURI)
        let targets = try build.map { [try registry.find($0)] } ?? registry.entries().filter(\.needsCleaning)
        var removed: [String] = []
        for entry in targets {
            let items = try registry.clean(entry)
            removed += items
            Console.shared.info("\(entry.name): removed \(items.isEmpty ? "nothing" : items.joined(separator: ", "))")
        }
        // `kvmbuild test` runs that were killed: their guests, switch, overlays and key.
        let deadRuns = build == nil ? TestRunFolder.dead() : []
        for run in deadRuns {
            let items = try run.clean()
            removed += items
            Console.shared.info("test run \(run.owner.id) (pid \(run.owner.pid)): removed \(items.isEmpty ? "nothing" : items.joined(separator: ", "))")
        }
        let locks = PortReservation.removeStaleLocks(in: host.resolvedCacheDir + "/ports")
        if locks > 0 { Console.shared.info("removed \(locks) stale port lock file(s)") }
        // A crashed or aborted build's share of the package cache ended with its process.
        if let stopped = await AptCacherNG(cacheDirectory: host.resolvedCacheDir).stopIfUnused() {
            Console.shared.info("stopped the package cache no build uses: \(stopped)")
            removed.append(stopped)
        }
        if output.json { try JSON.print(["removed": removed]) } else { Console.shared.result("cleaned \(targets.count) build(s)" + (deadRuns.isEmpty ? "" : " and \(deadRuns.count) test run(s)")) }
    }
}
