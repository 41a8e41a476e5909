import CLibvirt
#if canImport(Glibc)
import Glibc
#endif

/// An open libvirt connection, closed when the last reference goes away.
/// libvirt connections are thread-safe, so sharing one across tasks is sound.
public final class Connection: @unchecked Sendable {
    let pointer: OpaquePointer
    public let uri: String

    public init(uri: String) throws {
        _ = silenceLibvirtDefaultErrorPrinter
        guard let pointer = virConnectOpen(uri) else { throw LibvirtError.last("virConnectOpen(\(uri))") }
        self.pointer = pointer
        self.uri = uri
    }

    deinit { virConnectClose(pointer) }

    /// False once the link to libvirtd is gone (it stopped or crashed): libvirt's client closes
    /// the connection when its socket fails.
    public var isAlive: Bool { virConnectIsAlive(pointer) == 1 }

    /// The hypervisor's version as "major.minor.release" (QEMU's, for qemu:// URIs).
    public func hypervisorVersion() throws -> String {
        var version: UInt = 0
        guard virConnectGetVersion(pointer, &version) == 0 else { throw LibvirtError.last("virConnectGetVersion") }
        return Self.format(version)
    }

    /// The libvirt library version the daemon runs.
    public func libvirtVersion() throws -> String {
        var version: UInt = 0
        guard virConnectGetLibVersion(pointer, &version) == 0 else { throw LibvirtError.last("virConnectGetLibVersion") }
        return Self.format(version)
    }

    /// Domain capabilities XML for one virtualization type (`kvm`, `qemu`); throws when libvirt cannot offer it.
    public func domainCapabilities(virtType: String, arch: String = "x86_64") throws -> String {
        guard let xml = takeString(virConnectGetDomainCapabilities(pointer, nil, arch, nil, virtType, 0)) else {
            throw LibvirtError.last("virConnectGetDomainCapabilities(\(virtType))")
        }
        return xml
    }

    /// Starts a transient domain: libvirt forgets it as soon as it stops, so nothing stays defined.
    public func createTransientDomain(xml: String) throws -> Domain {
        guard let dom = virDomainCreateXML(pointer, xml, 0) else { throw LibvirtError.last("virDomainCreateXML") }
        return Domain(pointer: dom, connection: self)
    }

    /// The domain with this name, or nil when libvirt has none.
    public func domain(named name: String) throws -> Domain? {
        guard let dom = virDomainLookupByName(pointer, name) else {
            let error = LibvirtError.last("virDomainLookupByName(\(name))")
            if error.code == Int32(VIR_ERR_NO_DOMAIN.rawValue) { return nil }
            throw error
        }
        return Domain(pointer: dom, connection: self)
    }

    /// Every domain, running or defined.
    public func allDomains() throws -> [Domain] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = virConnectListAllDomains(pointer, &list, 0)
        guard count >= 0, let list else { throw LibvirtError.last("virConnectListAllDomains") }
        defer { free(list) }
        return (0..<Int(count)).compactMap { index in list[index].map { Domain(pointer: $0, connection: self) } }
    }

    static func format(_ version: UInt) -> String {
        "\(version / 1_000_000).\((version / 1_000) % 1_000).\(version % 1_000)"
    }
}
