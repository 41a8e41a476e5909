import Foundation
import KVMBuildSupport
import Libvirt

/// ACPI power-off through libvirt; forced off with a warning when the guest ignores it.
struct ShutdownPhase: BuildPhase {
    let name = "shutdown"

    func run(_ build: BuildContext) async throws {
        guard let connection = build.connection, let domain = try connection.domain(named: build.domainName) else { return }
        try domain.shutdown()
        let deadline = Date().addingTimeInterval(build.options.shutdownTimeout)
        while Date() < deadline {
            try Task.checkCancellation()
            if try Self.isOff(domain) { return }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        build.console.warning(String(format: "the guest ignored ACPI shutdown for %.0f s; forcing it off (its filesystem may need a check)", build.options.shutdownTimeout))
        try? domain.destroy()
    }

    /// A transient domain vanishes from libvirt once it is off, possibly between two calls.
    static func isOff(_ domain: Domain) throws -> Bool {
        do {
            return try domain.state() == .shutOff
        } catch let error as LibvirtError where error.isNoDomain {
            return true
        }
    }
}
