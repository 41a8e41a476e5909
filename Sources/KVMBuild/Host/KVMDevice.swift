import CShims
import Foundation

/// What /dev/kvm answers. Opening it is not enough: on nested or sandboxed hosts it opens,
/// hands out a VM, and the guest then hangs after the BIOS — so the CPU flags decide too.
public struct KVMDeviceStatus: Sendable, Codable {
    public let path: String
    public let exists: Bool
    public let openError: String?
    public let apiVersion: Int?
    public let createVMError: String?

    /// KVM's stable API version; anything else is a kernel we do not know how to talk to.
    public static let expectedAPIVersion = 12

    public var usable: Bool { exists && openError == nil && apiVersion == Self.expectedAPIVersion && createVMError == nil }

    public static func probe(path: String = "/dev/kvm") -> KVMDeviceStatus {
        guard FileManager.default.fileExists(atPath: path) else {
            return KVMDeviceStatus(path: path, exists: false, openError: nil, apiVersion: nil, createVMError: nil)
        }
        let r = kvm_probe(path)
        if r.open_errno != 0 {
            return KVMDeviceStatus(path: path, exists: true, openError: String(cString: strerror(r.open_errno)), apiVersion: nil, createVMError: nil)
        }
        return KVMDeviceStatus(
            path: path, exists: true, openError: nil,
            apiVersion: r.api_version >= 0 ? Int(r.api_version) : nil,
            createVMError: r.create_vm_ok == 1 ? nil : String(cString: strerror(r.create_vm_errno)))
    }
}
