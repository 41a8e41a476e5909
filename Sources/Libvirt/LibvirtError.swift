import CLibvirt

/// A failed libvirt call, carrying libvirt's own message so users see what libvirt said.
public struct LibvirtError: Error, CustomStringConvertible, Sendable {
    /// The libvirt function that failed, e.g. `virConnectOpen`.
    public let operation: String
    /// libvirt's `virErrorNumber`, or -1 when libvirt recorded none.
    public let code: Int32
    /// libvirt's `virErrorDomain`: which part of libvirt raised it (RPC, QEMU, storage…), or -1.
    public let domain: Int32
    public let message: String

    public init(operation: String, code: Int32, domain: Int32 = -1, message: String) {
        self.operation = operation
        self.code = code
        self.domain = domain
        self.message = message
    }

    public var description: String { "\(operation): \(message) (libvirt error \(code), domain \(domain))" }

    /// The connection to libvirtd is gone (libvirtd stopped or crashed, the socket closed), as
    /// opposed to libvirt refusing one request: a transport (RPC) error, or no connection at all.
    /// A refused request keeps the domain of the driver that refused it (QEMU, storage…).
    public var isConnectionLost: Bool {
        [VIR_ERR_NO_CONNECT.rawValue, VIR_ERR_INVALID_CONN.rawValue].contains(UInt32(bitPattern: code))
            || UInt32(bitPattern: domain) == VIR_FROM_RPC.rawValue
    }

    /// The domain no longer exists — for a transient domain, it has stopped.
    public var isNoDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }

    /// Reads (and resets) libvirt's thread-local last error.
    /// `operation` is evaluated only after the error is read: every libvirt call, even
    /// `virDomainGetName` for a label, resets the last error on entry.
    static func last(_ operation: @autoclosure () -> String) -> LibvirtError {
        guard let err = virGetLastError() else {
            return LibvirtError(operation: operation(), code: -1, message: "unknown libvirt error")
        }
        let message = err.pointee.message.map { String(cString: $0) } ?? "unknown libvirt error"
        let code = Int32(err.pointee.code)
        let domain = Int32(err.pointee.domain)
        virResetLastError()
        return LibvirtError(operation: operation(), code: code, domain: domain, message: message)
    }
}

/// libvirt prints every error to stderr unless told otherwise; we report errors ourselves.
let silenceLibvirtDefaultErrorPrinter: Void = {
    virSetErrorFunc(nil) { _, _ in }
}()

/// Takes ownership of a malloc'ed C string from libvirt.
func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
}

#if canImport(Glibc)
import Glibc
#endif
