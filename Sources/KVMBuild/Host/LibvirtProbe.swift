import KVMBuildSupport
import Libvirt

/// What libvirt says about itself: reachable, versions, and which domain types it can run.
struct LibvirtProbe: Sendable {
    var reachable = false
    var offersKVM = false
    var offersQEMU = false
    var items: [HostReport.Item] = []

    static func probe(uri: String) -> LibvirtProbe {
        var probe = LibvirtProbe()
        let connection: Connection
        do {
            connection = try Connection(uri: uri)
        } catch {
            probe.items.append(.init("libvirt", .fail, "libvirt unreachable at \(uri): \(error)",
                                     fix: "start libvirtd (scripts/setup-host.sh starts virtlogd and libvirtd), or pass --connect URI"))
            return probe
        }
        probe.reachable = true
        let lib = (try? connection.libvirtVersion()) ?? "?"
        let hv = (try? connection.hypervisorVersion()) ?? "?"
        probe.items.append(.init("libvirt", .pass, "libvirt \(lib) at \(uri), QEMU \(hv)"))
        probe.offersKVM = (try? connection.domainCapabilities(virtType: "kvm")) != nil
        probe.offersQEMU = (try? connection.domainCapabilities(virtType: "qemu")) != nil
        let types = [probe.offersKVM ? "kvm" : nil, probe.offersQEMU ? "qemu" : nil].compactMap { $0 }
        if probe.offersQEMU || probe.offersKVM {
            probe.items.append(.init("libvirt-domain-types", .pass, "domain types offered: \(types.joined(separator: ", "))"))
        } else {
            probe.items.append(.init("libvirt-domain-types", .fail, "libvirt offers neither kvm nor qemu domains for x86_64",
                                     fix: "install qemu-system-x86 and restart libvirtd"))
        }
        return probe
    }
}
