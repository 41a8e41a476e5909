/// One step of a build. A phase registers, on the context, the cleanup for whatever it creates,
/// the moment it creates it — so any failure, interrupt or on-error choice can undo it.
public protocol BuildPhase: Sendable {
    var name: String { get }
    func run(_ build: BuildContext) async throws
}

/// The build of a target, in order: the shape of the mission.
public enum BuildPlan {
    public static let phases: [any BuildPhase] = [
        PreflightPhase(),      // host facts → kvm or tcg; target inputs valid
        BaseImagePhase(),      // verified, cached base → qcow2 overlay
        ConfigDrivePhase(),    // ephemeral key, pinned host key, munge key → ISO
        BootPhase(),           // transient libvirt domain, SSH on 127.0.0.1:port, console log
        WaitForSSHPhase(),     // pinned host key, boot watchdog, cloud-init done
        ProvisionPhase(),      // ansible-playbook, guest in builder ⊂ compute
        ShutdownPhase(),       // ACPI, then force
        SealPhase(),           // libguestfs: drop keys, cloud state, machine-id, logs; trim;
                               //   then, remounted read-only in the same appliance, verify
        ExportPhase(),         // standalone compressed qcow2, qemu-img check, sha256
        SecretScanPhase(),     // the export's bytes hold no injected secret outside munge.key
        TestPhase(),           // the export booted as a new instance passes the target's checks
        PublishPhase(),        // manifest + <target>-latest
    ]
}
