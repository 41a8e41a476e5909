import Foundation
import Guestfs
import KVMBuildSupport

/// `kvmbuild verify`: opens an exported image read-only in its own appliance and runs the
/// image checks on it.
public struct ImageVerifier: Sendable {
    public let image: String
    public let checks: ImageChecks
    public let forceTCG: Bool

    public init(image: String, checks: ImageChecks, forceTCG: Bool) {
        self.image = image
        self.checks = checks
        self.forceTCG = forceTCG
    }

    public func verify() async throws -> [ImageChecks.Check] {
        guard FileManager.default.fileExists(atPath: image) else {
            throw KVMBuildError(.notFound, "image \(image) not found", fix: "pass the path of an exported .qcow2")
        }
        return try await runBlocking { [self] in
            let g = try Handle(forceTCG: forceTCG)
            try g.addDrive(image, format: "qcow2", readOnly: true)
            try g.launch()
            try g.mountOperatingSystem(readOnly: true)
            return try checks.run(on: g)
        }
    }
}
