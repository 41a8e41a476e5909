import Foundation
import Libvirt

/// What the boot and shutdown phases need of the hypervisor, the role of packer-plugin-qemu's
/// `Driver`: the real one is libvirt (`LibvirtGuestDriver`); unit tests give the phases a double
/// that records every call and fails on demand, so start/stop order, cleanup registration and the
/// forced-off fallback are tested without a guest.
public protocol GuestDriver: Sendable {
    func start(xml: String) throws
    /// nil: no such domain (a transient domain that stopped is gone).
    func state(_ name: String) throws -> Domain.State?
    /// ACPI power button.
    func shutdown(_ name: String) throws
    /// Pulls the plug; a domain already gone counts as destroyed.
    func destroy(_ name: String) throws
    /// QEMU paused the guest on a write error (the build folder's disk is full).
    func isPausedOnIOError(_ name: String) throws -> Bool
    /// false once the hypervisor connection is lost (libvirtd stopped).
    var isAlive: Bool { get }
}

public struct LibvirtGuestDriver: GuestDriver {
    public let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    public func start(xml: String) throws { _ = try connection.createTransientDomain(xml: xml) }

    public func state(_ name: String) throws -> Domain.State? {
        guard let domain = try connection.domain(named: name) else { return nil }
        do { return try domain.state() } catch let error as LibvirtError where error.isNoDomain { return nil }
    }

    public func shutdown(_ name: String) throws { try connection.domain(named: name)?.shutdown() }

    public func destroy(_ name: String) throws { try connection.domain(named: name)?.destroy() }

    public func isPausedOnIOError(_ name: String) throws -> Bool { try connection.domain(named: name)?.isPausedOnIOError() ?? false }

    public var isAlive: Bool { connection.isAlive }
}
