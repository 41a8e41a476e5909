import CLibvirt

/// A libvirt domain handle. Freed on deinit; the domain itself lives on in libvirtd.
public final class Domain: @unchecked Sendable {
    let pointer: OpaquePointer
    // Keeps the connection open for as long as a domain handle is used.
    let connection: Connection

    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit { virDomainFree(pointer) }

    public enum State: Sendable, Equatable {
        case running, blocked, paused, shuttingDown, shutOff, crashed, suspended, other(Int32)
    }

    /// True when QEMU stopped the guest because a disk write failed (typically ENOSPC on the
    /// host: QEMU's default werror policy pauses instead of handing the guest an I/O error).
    public func isPausedOnIOError() throws -> Bool {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(pointer, &state, &reason, 0) == 0 else { throw LibvirtError.last("virDomainGetState") }
        return UInt32(state) == VIR_DOMAIN_PAUSED.rawValue && UInt32(reason) == VIR_DOMAIN_PAUSED_IOERROR.rawValue
    }

    public var name: String { virDomainGetName(pointer).map { String(cString: $0) } ?? "" }

    public func state() throws -> State {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(pointer, &state, &reason, 0) == 0 else { throw LibvirtError.last("virDomainGetState") }
        switch UInt32(state) {
        case VIR_DOMAIN_RUNNING.rawValue: return .running
        case VIR_DOMAIN_BLOCKED.rawValue: return .blocked
        case VIR_DOMAIN_PAUSED.rawValue: return .paused
        case VIR_DOMAIN_SHUTDOWN.rawValue: return .shuttingDown
        case VIR_DOMAIN_SHUTOFF.rawValue: return .shutOff
        case VIR_DOMAIN_CRASHED.rawValue: return .crashed
        case VIR_DOMAIN_PMSUSPENDED.rawValue: return .suspended
        default: return .other(state)
        }
    }

    /// Asks the guest to power off (ACPI power button).
    public func shutdown() throws {
        guard virDomainShutdown(pointer) == 0 else { throw LibvirtError.last("virDomainShutdown(\(name))") }
    }

    /// Pulls the plug. A transient domain disappears from libvirt afterwards.
    /// A domain already gone counts as destroyed: libvirtd removes a transient domain as soon
    /// as its QEMU exits, and right after a libvirtd restart its re-attach thread does that
    /// while our destroy waits for the domain's lock, so the destroy then reports "not found".
    public func destroy() throws {
        guard virDomainDestroy(pointer) == 0 else {
            let error = LibvirtError.last("virDomainDestroy(\(name))")
            if error.isNoDomain { return }
            throw error
        }
    }

    /// The custom metadata element stored under `namespaceURI`, or nil when the domain has none.
    public func metadata(namespaceURI: String) -> String? {
        let xml = takeString(virDomainGetMetadata(pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue), namespaceURI, 0))
        if xml == nil { virResetLastError() }
        return xml
    }
}
