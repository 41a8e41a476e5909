import Foundation
import Synchronization
@testable import KVMBuild
import Libvirt

/// A hypervisor in memory: records every call, and its domains "run" until shut down or
/// destroyed. `startFails` throws after the domain exists (libvirt can fail a start whose QEMU
/// did come up), `startFailsOnce` only the first time; `honoursACPI` decides the shutdown;
/// `pausedOnIOError` is what QEMU does on a full disk.
final class GuestDouble: GuestDriver {
    let calls = Mutex<[String]>([])
    let domains = Mutex<[String: Domain.State]>([:])
    let startFails: Bool
    let startFailsOnce: Bool
    let honoursACPI: Bool
    let pausedOnIOError = Mutex(false)
    private let starts = Mutex(0)

    init(startFails: Bool = false, startFailsOnce: Bool = false, honoursACPI: Bool = true) {
        self.startFails = startFails
        self.startFailsOnce = startFailsOnce
        self.honoursACPI = honoursACPI
    }

    func start(xml: String) throws {
        let name = xml.components(separatedBy: "<name>").dropFirst().first?.components(separatedBy: "</name>").first ?? "?"
        calls.withLock { $0.append("start \(name)") }
        domains.withLock { $0[name] = .running }
        let attempt = starts.withLock { $0 += 1; return $0 }
        if startFails || (startFailsOnce && attempt == 1) {
            throw LibvirtError(operation: "virDomainCreateXML", code: 1, domain: 10, message: "QEMU said no")
        }
    }
    func state(_ name: String) throws -> Domain.State? { domains.withLock { $0[name] } }
    func shutdown(_ name: String) throws {
        calls.withLock { $0.append("shutdown \(name)") }
        if honoursACPI { domains.withLock { $0[name] = nil } }
    }
    func destroy(_ name: String) throws {
        calls.withLock { $0.append("destroy \(name)") }
        domains.withLock { $0[name] = nil }
    }
    func isPausedOnIOError(_ name: String) throws -> Bool { pausedOnIOError.withLock { $0 } }
    var isAlive: Bool { true }

    var log: [String] { calls.withLock { $0 } }
    var running: [String] { domains.withLock { Array($0.keys) } }
}
