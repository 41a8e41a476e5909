import Foundation
import KVMBuildSupport

/// The base `#cloud-config` every guest kvmbuild provisions starts from. Found in this order: the
/// target's own (`cloud_init:` in kvmbuild.yml), the project's `cloud-init/user-data.yaml`, then
/// this built-in copy of the repository's file, so a targets file anywhere works on its own.
public enum UserDataTemplate {
    public static func load(explicit: String?, projectDirectory: String) throws -> String {
        if let explicit {
            guard let text = try? String(contentsOfFile: explicit, encoding: .utf8) else {
                throw KVMBuildError(.notFound, "cloud-init template \(explicit) not found", fix: "fix cloud_init in kvmbuild.yml, or drop it to use kvmbuild's own")
            }
            return text
        }
        let project = projectDirectory + "/cloud-init/user-data.yaml"
        if FileManager.default.fileExists(atPath: project) {
            guard let text = try? String(contentsOfFile: project, encoding: .utf8) else {
                throw KVMBuildError(.io, "cannot read \(project)", fix: "check its permissions")
            }
            return text
        }
        return builtIn
    }

    /// cloud-init/user-data.yaml as this kvmbuild was built (a unit test keeps the two equal).
    public static let builtIn = """
#cloud-config
# Base cloud-config for every kvmbuild build guest. kvmbuild merges in, per build:
#   users:       the build user with its ephemeral SSH key (and any --authorized-key)
#   ssh_keys:    a pre-generated host key, which kvmbuild pins (no trust on first use)
#   write_files: the munge key (0400) and the build-time datasource pin
# Everything the build adds is removed again when the image is sealed.
ssh_pwauth: false
disable_root: true
ssh_deletekeys: true
# Building is not the place to upgrade the OS behind the playbook's back.
package_update: false
package_upgrade: false
locale: C.UTF-8
manage_etc_hosts: true
# Build guest only: the image's own first boot runs these again as a new instance. Recording the
# boot disk for grub's debconf and printing host keys (kvmbuild pins its own) cost ~6 s under TCG.
grub_dpkg:
  enabled: false
ssh:
  emit_keys_to_console: false

"""
}
