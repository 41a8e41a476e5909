import Foundation
import KVMBuildSupport
import Yams

/// Renders `#cloud-config` from the template in cloud-init/ plus the build's own parts.
public enum UserData {
    public static func render(template: String, content: ConfigDriveContent) throws -> String {
        var config: [String: Any]
        do {
            config = (try Yams.load(yaml: template) as? [String: Any]) ?? [:]
        } catch {
            throw KVMBuildError(.invalidInput, "cloud-init template is not valid YAML: \(error)", fix: "fix cloud-init/user-data.yaml")
        }
        config["hostname"] = content.hostname
        var users = (config["users"] as? [Any]) ?? []
        users.append([
            "name": content.user,
            "gecos": "kvmbuild build user (removed when the image is sealed)",
            "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "shell": "/bin/bash",
            "lock_passwd": true,
            "ssh_authorized_keys": content.authorizedKeys,
        ] as [String: Any])
        config["users"] = users

        if let hostKey = content.hostKey {
            // With ssh_keys given, cloud-init generates no other host keys (ssh_genkeytypes is
            // not read), and ssh_deletekeys has removed the base image's: sshd offers only this one.
            config["ssh_keys"] = ["ed25519_private": hostKey.privateKey, "ed25519_public": hostKey.publicKey]
        }

        var files = (config["write_files"] as? [Any]) ?? []
        files.append([
            "path": ConfigDriveContent.datasourcePinPath,
            "permissions": "0644",
            "content": "datasource_list: [ \(content.datasources.joined(separator: ", ")) ]\n",
        ] as [String: Any])
        // dpkg fsyncs every file it unpacks, which under TCG makes package installs crawl; the
        // guest disk ignores flushes during the build anyway (DomainXML), and the image is made
        // consistent by the shutdown, the seal and the export. Like diskimage-builder's eatmydata.
        files.append([
            "path": ConfigDriveContent.dpkgUnsafeIOPath,
            "permissions": "0644",
            "content": "# kvmbuild: build time only, removed when the image is sealed\nforce-unsafe-io\n",
        ] as [String: Any])
        // Every package script runs `systemctl daemon-reload`: about 10 s each under TCG, a third
        // of the compute play's package install. During the build, dpkg's scripts find a systemctl
        // that skips that one verb and runs the real one for the rest, so services still start or
        // stay stopped as policy-rc.d says; apt reloads systemd once when dpkg is done.
        files.append([
            "path": ConfigDriveContent.dpkgWrapperPath,
            "permissions": "0755",
            "content": """
                #!/bin/sh
                # kvmbuild: build time only, removed when the image is sealed
                PATH=\(ConfigDriveContent.noReloadBinPath):$PATH exec /usr/bin/dpkg "$@"

                """,
        ] as [String: Any])
        files.append([
            "path": ConfigDriveContent.noReloadBinPath + "/systemctl",
            "permissions": "0755",
            "content": """
                #!/bin/sh
                # kvmbuild: build time only, removed when the image is sealed. apt reloads once after dpkg.
                for arg in "$@"; do [ "$arg" = daemon-reload ] && exit 0; done
                exec /usr/bin/systemctl "$@"

                """,
        ] as [String: Any])
        files.append([
            "path": ConfigDriveContent.aptBuildConfigPath,
            "permissions": "0644",
            "content": """
                // kvmbuild: build time only, removed when the image is sealed
                Dir::Bin::dpkg "\(ConfigDriveContent.dpkgWrapperPath)";
                DPkg::Post-Invoke { "if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi"; };

                """ + (content.packageProxy.map { "Acquire::http::Proxy \"\($0)/\";\n" } ?? ""),
        ] as [String: Any])
        if let munge = content.mungeKey {
            // Written as root: the munge user does not exist yet; the playbook hands it to munge.
            files.append([
                "path": ConfigDriveContent.mungeKeyPath,
                "encoding": "b64",
                "content": munge.base64EncodedString(),
                "owner": "root:root",
                "permissions": "0400",
            ] as [String: Any])
        }
        if let hosts = content.etcHosts {
            config["manage_etc_hosts"] = false
            files.append(etcHostsFile(hosts))
        }
        config["write_files"] = files
        return "#cloud-config\n" + (try Yams.dump(object: config, sortKeys: true))
    }

    /// A new instance's only user-data: the hosts of its cluster, as a site's would write them.
    public static func renderInstance(etcHosts: String) throws -> String {
        let config: [String: Any] = ["manage_etc_hosts": false, "write_files": [etcHostsFile(etcHosts)]]
        return "#cloud-config\n" + (try Yams.dump(object: config, sortKeys: true))
    }

    /// cloud-init would otherwise rewrite /etc/hosts from its template on every boot.
    private static func etcHostsFile(_ hosts: String) -> [String: Any] {
        ["path": "/etc/hosts", "permissions": "0644", "content": hosts]
    }
}
