import Foundation
import KVMBuildSupport

/// ACPI power-off through libvirt; forced off with a warning when the guest ignores it.
struct ShutdownPhase: BuildPhase {
    let name = "shutdown"

    func run(_ build: BuildContext) async throws {
        let driver = try build.output(\.guests)
        guard try driver.state(build.domainName) != nil else { return }
        try driver.shutdown(build.domainName)
        let deadline = Date().addingTimeInterval(build.options.shutdownTimeout)
        while Date() < deadline {
            try Task.checkCancellation()
            // A transient domain vanishes from libvirt once it is off.
            let state = try driver.state(build.domainName)
            if state == nil || state == .shutOff { return }
            try await Task.sleep(nanoseconds: 500_000_000)
        }
        build.console.warning(String(format: "the guest ignored ACPI shutdown for %.0f s; forcing it off (its filesystem may need a check)", build.options.shutdownTimeout))
        try? driver.destroy(build.domainName)
    }
}
