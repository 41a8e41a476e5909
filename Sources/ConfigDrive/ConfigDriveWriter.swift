import Foundation
import KVMBuildSupport

/// Writes the config-drive ISO. The staging folder and the ISO hold secrets: both are private
/// to the user, and the staging folder is gone before this returns.
public enum ConfigDriveWriter {
    public static func write(_ content: ConfigDriveContent, template: String, to isoPath: String) async throws {
        let fm = FileManager.default
        let staging = isoPath + ".d"
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? fm.removeItem(atPath: staging) }

        let userData = Data(try UserData.render(template: template, content: content).utf8)
        switch content.flavor {
        case .configdrive:
            let dir = staging + "/openstack/latest"
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let meta: [String: Any] = [
                "uuid": content.instanceID, "name": content.hostname, "hostname": content.hostname,
                "launch_index": 0, "availability_zone": "nova", "meta": ["built-by": "kvmbuild"],
            ]
            try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dir + "/meta_data.json"))
            try userData.write(to: URL(fileURLWithPath: dir + "/user_data"))
            if let network = content.network { try network.networkDataJSON().write(to: URL(fileURLWithPath: dir + "/network_data.json")) }
        case .nocloud:
            let meta = "instance-id: \(content.instanceID)\nlocal-hostname: \(content.hostname)\n"
            try Data(meta.utf8).write(to: URL(fileURLWithPath: staging + "/meta-data"))
            try userData.write(to: URL(fileURLWithPath: staging + "/user-data"))
            if let network = content.network { try Data(network.networkConfigV2().utf8).write(to: URL(fileURLWithPath: staging + "/network-config")) }
        }

        try await makeISO(from: staging, label: content.flavor.volumeLabel, to: isoPath)
    }

    /// What Nova attaches to a new instance: an OpenStack config drive with only metadata (uuid,
    /// hostname, one SSH key as `public_keys`) and no user-data, so the image's own cloud-init
    /// configuration decides everything else, as it will in the cloud. A cluster member also gets
    /// its network_data.json and a user-data that writes /etc/hosts.
    public static func writeInstance(_ seed: InstanceSeed, to isoPath: String) async throws {
        let fm = FileManager.default
        let staging = isoPath + ".d"
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging + "/openstack/latest", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? fm.removeItem(atPath: staging) }
        let meta: [String: Any] = [
            "uuid": seed.instanceID, "name": seed.hostname, "hostname": seed.hostname, "launch_index": 0,
            "availability_zone": "nova", "public_keys": seed.publicKeys, "meta": ["built-by": "kvmbuild", "kvmbuild-test": "true"],
        ]
        try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: staging + "/openstack/latest/meta_data.json"))
        if let network = seed.network {
            try network.networkDataJSON().write(to: URL(fileURLWithPath: staging + "/openstack/latest/network_data.json"))
        }
        if let hosts = seed.etcHosts {
            try Data(UserData.renderInstance(etcHosts: hosts).utf8).write(to: URL(fileURLWithPath: staging + "/openstack/latest/user_data"))
        }
        try await makeISO(from: staging, label: ConfigDriveContent.Flavor.configdrive.volumeLabel, to: isoPath)
    }

    private static func makeISO(from staging: String, label: String, to isoPath: String) async throws {
        let fm = FileManager.default
        // umask decides the mode qemu-img-style tools create files with; create the ISO 0600 first.
        _ = fm.createFile(atPath: isoPath, contents: nil, attributes: [.posixPermissions: 0o600])
        let spec: ProcessSpec
        if ProcessSpec.which("xorriso") != nil {
            spec = ProcessSpec("xorriso", ["-as", "mkisofs", "-quiet", "-o", isoPath, "-V", label, "-J", "-R", staging])
        } else {
            spec = ProcessSpec("genisoimage", ["-quiet", "-o", isoPath, "-V", label, "-J", "-r", staging])
        }
        do {
            try await ProcessRunner.checked(spec, fix: "run scripts/setup-host.sh to install xorriso")
        } catch {
            try? fm.removeItem(atPath: isoPath)
            throw error
        }
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: isoPath)
    }
}
