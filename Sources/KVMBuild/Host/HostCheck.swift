import Foundation
import KVMBuildSupport
import Libvirt

/// The host preflight: everything `egrep vmx /proc/cpuinfo` was meant to tell, and the rest a build needs.
public struct HostCheck: Sendable {
    public var libvirtURI: String
    public var accelerator: AcceleratorRequest
    public var cpuinfoPath = "/proc/cpuinfo"
    public var kvmDevicePath = "/dev/kvm"
    public var buildDirectory: String
    public var cacheDirectory: String

    /// A build of the default image needs about this much: overlay growth plus the compressed export.
    static let minimumFreeDiskBytes: UInt64 = 4 << 30
    static let minimumFreeMemoryBytes: UInt64 = 2 << 30

    public init(libvirtURI: String, accelerator: AcceleratorRequest, buildDirectory: String, cacheDirectory: String) {
        self.libvirtURI = libvirtURI
        self.accelerator = accelerator
        self.buildDirectory = buildDirectory
        self.cacheDirectory = cacheDirectory
    }

    public func run() async -> HostReport {
        var items: [HostReport.Item] = []

        let cpuText = (try? String(contentsOfFile: cpuinfoPath, encoding: .utf8)) ?? ""
        let cpu = CPUVirtualization.parse(cpuinfo: cpuText)
        if let ext = cpu.ext {
            items.append(.init("cpu-virtualization", .pass, "CPU advertises \(ext.rawValue) (\(ext == .vmx ? "Intel VT-x" : "AMD-V"))"))
        } else {
            items.append(.init("cpu-virtualization", .warn, "CPU flags have neither vmx nor svm: no hardware virtualisation",
                               fix: "enable VT-x/AMD-V in the firmware, or nested virtualisation on the hypervisor"))
        }

        let kvm = KVMDeviceStatus.probe(path: kvmDevicePath)
        items.append(kvmItem(kvm))

        let libvirt = LibvirtProbe.probe(uri: libvirtURI)
        items.append(contentsOf: libvirt.items)

        let decision = decide(cpu: cpu, kvm: kvm, libvirt: libvirt)
        items.append(decision.item)

        items.append(contentsOf: await ToolProbe.all())
        items.append(diskItem("disk-build", buildDirectory))
        items.append(diskItem("disk-cache", cacheDirectory))
        items.append(memoryItem())

        let canBuild = !items.contains { $0.status == .fail }
        return HostReport(checks: items, accelerator: decision.accelerator, acceleratorReason: decision.reason,
                          libvirtURI: libvirtURI, canBuild: canBuild)
    }

    private func kvmItem(_ kvm: KVMDeviceStatus) -> HostReport.Item {
        if !kvm.exists {
            return .init("kvm-device", .warn, "\(kvm.path) does not exist", fix: "load the kvm_intel or kvm_amd module")
        }
        if let error = kvm.openError {
            return .init("kvm-device", .warn, "\(kvm.path) does not open read-write: \(error)", fix: "add the user to the kvm group or run as root")
        }
        if kvm.apiVersion != KVMDeviceStatus.expectedAPIVersion {
            return .init("kvm-device", .warn, "\(kvm.path) answers KVM_GET_API_VERSION=\(kvm.apiVersion.map(String.init) ?? "error"), expected 12")
        }
        if let error = kvm.createVMError {
            return .init("kvm-device", .warn, "\(kvm.path) refuses KVM_CREATE_VM: \(error)", fix: "check that no other hypervisor holds VT-x/AMD-V")
        }
        return .init("kvm-device", .pass, "\(kvm.path) opens read-write, API version 12, KVM_CREATE_VM works")
    }

    struct Decision { let accelerator: Accelerator; let reason: String; let item: HostReport.Item }

    func decide(cpu: CPUVirtualization, kvm: KVMDeviceStatus, libvirt: LibvirtProbe) -> Decision {
        var missing: [String] = []
        if cpu.ext == nil { missing.append("CPU flags lack vmx/svm") }
        if !kvm.usable { missing.append("\(kvm.path) is not usable") }
        if libvirt.reachable && !libvirt.offersKVM { missing.append("libvirt offers no kvm domain type") }
        let kvmWorks = missing.isEmpty

        switch accelerator {
        case .tcg:
            return Decision(accelerator: .tcg, reason: "tcg requested with --accel tcg",
                            item: .init("accelerator", .pass, "tcg (requested): software emulation, builds run several times slower"))
        case .kvm where !kvmWorks:
            let reason = missing.joined(separator: "; ")
            return Decision(accelerator: .tcg, reason: reason,
                            item: .init("accelerator", .fail, "kvm requested but unusable: \(reason)",
                                        fix: "enable hardware virtualisation, or drop --accel kvm to build under tcg"))
        case .kvm, .auto:
            if kvmWorks {
                return Decision(accelerator: .kvm, reason: "CPU has \(cpu.ext!.rawValue), /dev/kvm works, libvirt offers kvm",
                                item: .init("accelerator", .pass, "kvm: hardware virtualisation"))
            }
            let reason = missing.joined(separator: "; ")
            return Decision(accelerator: .tcg, reason: reason,
                            item: .init("accelerator", .warn, "TCG: SOFTWARE EMULATION, builds run several times slower (\(reason))",
                                        fix: "enable VT-x/AMD-V for kvm"))
        }
    }

    private func diskItem(_ name: String, _ path: String) -> HostReport.Item {
        var dir = URL(fileURLWithPath: path)
        // The folder may not exist yet: measure the filesystem it will live on.
        while !FileManager.default.fileExists(atPath: dir.path), dir.path != "/" { dir.deleteLastPathComponent() }
        var st = statvfs()
        guard statvfs(dir.path, &st) == 0 else { return .init(name, .warn, "cannot measure free space at \(path)") }
        let free = UInt64(st.f_bavail) * UInt64(st.f_frsize)
        let text = "\(ByteFormat.gib(free)) free at \(path)"
        return free >= Self.minimumFreeDiskBytes
            ? .init(name, .pass, text)
            : .init(name, .fail, text + ", need \(ByteFormat.gib(Self.minimumFreeDiskBytes))", fix: "free disk space or point --build-dir elsewhere")
    }

    private func memoryItem() -> HostReport.Item {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }
        guard let kb = line?.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) else {
            return .init("memory", .warn, "cannot read MemAvailable from /proc/meminfo")
        }
        let bytes = kb * 1024
        return bytes >= Self.minimumFreeMemoryBytes
            ? .init("memory", .pass, "\(ByteFormat.gib(bytes)) available")
            : .init("memory", .fail, "\(ByteFormat.gib(bytes)) available, a guest needs \(ByteFormat.gib(Self.minimumFreeMemoryBytes))", fix: "stop other guests or lower the target's memory")
    }
}

enum ByteFormat {
    static func gib(_ bytes: UInt64) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
