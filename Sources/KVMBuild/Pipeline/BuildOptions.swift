import Foundation
import ConfigDrive

/// What happens when a phase fails (Packer's -on-error).
public enum OnErrorPolicy: String, Sendable, CaseIterable {
    /// Undo everything (default).
    case cleanup
    /// Leave the guest running and say how to reach it.
    case abort
    /// Pause and let the developer choose: retry, ssh, cleanup or abort.
    case ask
}

/// Per-build settings from the command line (the target supplies the rest).
public struct BuildOptions: Sendable {
    public var libvirtURI = "qemu:///system"
    public var buildDirectory: String
    public var cacheDirectory: String
    /// Where kvmbuild.yml, cloud-init/ and ansible/ live; also the git tree for the image name.
    public var projectDirectory: String
    public var accelerator: AcceleratorRequest = .auto
    /// Run with the requested accelerator even when the preflight says it cannot work.
    public var ignorePreflight = false
    public var onError: OnErrorPolicy = .cleanup
    public var seed: ConfigDriveContent.Flavor = .configdrive
    public var extraAuthorizedKeys: [String] = []
    public var sshTimeout: TimeInterval = 20 * 60
    /// Fail when the serial console shows nothing new for this long before SSH answers.
    public var bootWatchdog: TimeInterval = 120
    public var shutdownTimeout: TimeInterval = 180
    public var extraInventories: [String] = []
    public var vaultPasswordFile: String?
    /// `--secret-vars-file`: variables whose values are scanned for in the image and redacted.
    public var secretVars = SecretVars()
    /// `--output-group`: build folders 0750 and outputs 0640 for this group instead of private.
    public var outputGroup: String?
    /// Fault-injection hook for tests: a config drive without the build key, so SSH never logs in.
    public var omitBuildKey = false
    public var force = false
    /// `--no-test`: publish without booting the export first (said loudly, kept in the manifest).
    public var skipTest = false
    /// Also run the target's `test.slurm_cluster` (a controller and N nodes of the image).
    public var testCluster = false

    public init(buildDirectory: String, cacheDirectory: String, projectDirectory: String) {
        self.buildDirectory = buildDirectory
        self.cacheDirectory = cacheDirectory
        self.projectDirectory = projectDirectory
    }
}
