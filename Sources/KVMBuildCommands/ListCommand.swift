import ArgumentParser
import Foundation
import KVMBuild
import KVMBuildSupport

/// `kvmbuild list`: builds in build/, running or dead, and what they left behind.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List builds: running, finished, and dead ones with leftovers.")

    @OptionGroup var output: OutputOptions
    @OptionGroup var host: HostOptions

    func run() async throws {
        output.apply()
        let entries = BuildRegistry(buildDirectory: host.resolvedBuildDir, libvirtURI: host.libvirtURI).entries()
        if output.json { return try JSON.print(entries) }
        if entries.isEmpty { return Console.shared.result("no builds in \(host.resolvedBuildDir)") }
        for entry in entries {
            let state = entry.alive ? "running" : entry.needsCleaning ? "DEAD (kvmbuild clean \(entry.name))" : entry.state.status.rawValue
            let port = entry.state.sshPort.map { " ssh 127.0.0.1:\($0)" } ?? ""
            let why = entry.state.failure.map { " — \($0.phase): \($0.error)" } ?? ""
            Console.shared.result("\(entry.name)  \(state)\(entry.domainRunning ? " domain \(entry.state.domain)" : "")\(entry.alive ? port : "")\(entry.alive ? "" : why)")
        }
    }
}
