import Foundation
import Libvirt
import Testing

/// The libvirt wrapper against the real libvirtd, with a tiny diskless guest under TCG.
@Suite(.serialized) struct LibvirtDomainTests {
    /// A guest with no disk: QEMU starts and its BIOS loops looking for something to boot.
    static func startDisklessGuest(_ connection: Connection) throws -> Domain {
        let name = "kvmbuild-test-diskless-\(UUID().uuidString.prefix(8).lowercased())"
        return try connection.createTransientDomain(xml: """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>32</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
            </domain>
            """)
    }

    @Test func destroyingAGoneDomainSucceeds() throws {
        let connection = try Connection(uri: "qemu:///system")
        let domain = try Self.startDisklessGuest(connection)
        defer { try? domain.destroy() }
        #expect(try connection.domain(named: domain.name) != nil)
        try domain.destroy()
        #expect(try connection.domain(named: domain.name) == nil, "a transient domain is gone once destroyed")
        // What `clean` meets right after a libvirtd restart: the domain vanished under it.
        try domain.destroy()
    }

    @Test func aFailedCallKeepsLibvirtsMessage() throws {
        let connection = try Connection(uri: "qemu:///system")
        let domain = try Self.startDisklessGuest(connection)
        try domain.destroy()
        // The label names the domain through another libvirt call, which must not wipe the error.
        let error = try #require(throws: LibvirtError.self) { try domain.shutdown() }
        #expect(error.isNoDomain, "\(error)")
        #expect(error.message.contains("not found") || error.message.contains("no domain"), "\(error)")
        #expect(error.operation == "virDomainShutdown(\(domain.name))")
    }
}
