import Foundation

/// The libvirt domain a build guest runs in.
public struct GuestDomain: Sendable {
    public var name: String
    public var accelerator: Accelerator
    public var memoryMiB: Int
    public var vcpus: Int
    public var disk: String
    public var configDrive: String
    public var consoleLog: String
    public var sshPort: Int
    public var metadata: BuildMetadata
    /// A second NIC on a vde switch (guest-only segment), and the MACs the guest's network config
    /// matches its NICs by; nil: the user-mode NIC alone, with QEMU's default MAC.
    public var cluster: ClusterNIC?

    public struct ClusterNIC: Sendable {
        public var switchSocket: String
        public var userMAC: String
        public var clusterMAC: String
        public init(switchSocket: String, userMAC: String, clusterMAC: String) {
            self.switchSocket = switchSocket
            self.userMAC = userMAC
            self.clusterMAC = clusterMAC
        }
    }

    public init(name: String, accelerator: Accelerator, memoryMiB: Int, vcpus: Int, disk: String, configDrive: String, consoleLog: String,
                sshPort: Int, metadata: BuildMetadata, cluster: ClusterNIC? = nil) {
        self.name = name
        self.accelerator = accelerator
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.disk = disk
        self.configDrive = configDrive
        self.consoleLog = consoleLog
        self.sshPort = sshPort
        self.metadata = metadata
        self.cluster = cluster
    }

    public struct BuildMetadata: Sendable {
        public var id: String
        public var target: String
        public var pid: Int32
        public var folder: String
        public init(id: String, target: String, pid: Int32, folder: String) {
            self.id = id
            self.target = target
            self.pid = pid
            self.folder = folder
        }
    }

    /// Our metadata namespace: marks domains kvmbuild created, so `clean` touches only those.
    public static let metadataNamespace = "urn:kvmbuild:build:1"

    public func xml() -> String {
        let uid = getuid(), gid = getgid()
        // qemu runs as the invoking user with no relabelling: it reads the cached base image and
        // writes the overlay exactly as the user could, and libvirt never chowns user files.
        let cpu = accelerator == .kvm ? "<cpu mode='host-passthrough'/>" : ""
        // libvirt has no vde interface type: both NICs are QEMU arguments, at fixed PCI slots.
        let userMAC = cluster.map { ",mac=\($0.userMAC)" } ?? ""
        let clusterArgs = cluster.map { nic in
            "\n    <qemu:arg value='-netdev'/>\n    <qemu:arg value='vde,id=kvmbuild1,sock=\(esc(nic.switchSocket))'/>"
                + "\n    <qemu:arg value='-device'/>\n    <qemu:arg value='virtio-net-pci,netdev=kvmbuild1,mac=\(nic.clusterMAC),bus=pci.0,addr=0x11'/>"
        } ?? ""
        return """
        <domain type='\(accelerator.libvirtDomainType)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <name>\(esc(name))</name>
          <metadata>
            <kvmbuild:build xmlns:kvmbuild='\(Self.metadataNamespace)' id='\(esc(metadata.id))' target='\(esc(metadata.target))' pid='\(metadata.pid)' folder='\(esc(metadata.folder))'/>
          </metadata>
          <memory unit='MiB'>\(memoryMiB)</memory>
          <vcpu>\(vcpus)</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
          <features><acpi/><apic/></features>
          \(cpu)
          <clock offset='utc'/>
          <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
          <devices>
            <disk type='file' device='disk'>
              <!-- cache='unsafe': the guest's flushes are ignored. A build disk is either
                   finished by a clean shutdown (QEMU writes everything out when it exits) or
                   thrown away, so syncs buy nothing and cost much under TCG.
                   error_policy='enospace': a full build folder pauses the guest (GuestWatch
                   reports it) instead of handing the half-installed guest write errors. -->
              <driver name='qemu' type='qcow2' cache='unsafe' discard='unmap' error_policy='enospace'/>
              <source file='\(esc(disk))'/>
              <target dev='vda' bus='virtio'/>
            </disk>
            <disk type='file' device='cdrom'>
              <driver name='qemu' type='raw'/>
              <source file='\(esc(configDrive))'/>
              <target dev='hdc' bus='ide'/>
              <readonly/>
            </disk>
            <serial type='pty'>
              <log file='\(esc(consoleLog))' append='off'/>
              <target port='0'/>
            </serial>
            <console type='pty'><target type='serial' port='0'/></console>
            <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
            <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
            <memballoon model='none'/>
            <video><model type='none'/></video>
          </devices>
          <seclabel type='static' model='dac' relabel='no'><label>+\(uid):+\(gid)</label></seclabel>
          <qemu:commandline>
            <qemu:arg value='-netdev'/>
            <qemu:arg value='user,id=kvmbuild0,hostfwd=tcp:127.0.0.1:\(sshPort)-:22'/>
            <qemu:arg value='-device'/>
            <qemu:arg value='virtio-net-pci,netdev=kvmbuild0\(userMAC),bus=pci.0,addr=0x10'/>\(clusterArgs)
          </qemu:commandline>
        </domain>
        """
    }

    private func esc(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
    }
}
