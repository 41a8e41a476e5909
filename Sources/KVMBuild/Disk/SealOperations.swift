import ConfigDrive

/// What the seal does, operation by operation, named after virt-sysprep's operations (the
/// anchor for sealing) so the two can be compared line by line. Every path here must be gone
/// from a sealed image: the seal removes them, and ImageChecks (and `kvmbuild verify`) check
/// that each pattern matches nothing. Patterns are shell globs; `.*` patterns catch dotfiles.
///
/// virt-sysprep's default operations that kvmbuild leaves out, on purpose:
/// - `customize`, `script`: the playbook is where an image is customised.
/// - `lvm-uuids`: images that share a base share its UUIDs on every cloud; changing them
///   needs the volume group active, and kvmbuild's bases are not LVM.
/// `net-hostname` and `net-hwaddr` edit RHEL ifcfg files (the script below); the rest are paths.
public struct SealOperation: Sendable {
    public let name: String
    /// Removed outright (files, links or whole trees).
    public let paths: [String]

    public static func all(buildUser: String, buildHostname: String) -> [SealOperation] {
        [
            .init(name: "abrt-data", paths: ["/var/spool/abrt/*", "/var/tmp/abrt/*"]),
            .init(name: "backup-files", paths: ["/etc/*~", "/etc/*/*~", "/etc/*.bak", "/etc/*/*.bak", "/root/*~"]),
            .init(name: "bash-history", paths: ["/root/.bash_history", "/home/*/.bash_history", "/root/.lesshst", "/root/.viminfo", "/root/.python_history"]),
            .init(name: "blkid-tab", paths: ["/etc/blkid.tab", "/etc/blkid.tab.old", "/etc/blkid/blkid.tab", "/etc/blkid/blkid.tab.old"]),
            .init(name: "crash-data", paths: ["/var/crash/*", "/var/log/dump/*"]),
            .init(name: "cron-spool", paths: ["/var/spool/cron/crontabs/*", "/var/spool/cron/atjobs/*", "/var/spool/at/*"]),
            .init(name: "dhcp-client-state", paths: ["/var/lib/dhcp/*.leases", "/var/lib/dhclient/*", "/var/lib/NetworkManager/*.lease",
                                                     "/var/lib/NetworkManager/dhclient-*", "/var/lib/systemd/network/*"]),
            .init(name: "dhcp-server-state", paths: ["/var/lib/dhcpd/*", "/var/lib/dhcp/dhcpd.leases*"]),
            .init(name: "dovecot-data", paths: ["/var/lib/dovecot/*"]),
            .init(name: "ipa-client", paths: ["/etc/ipa/ca.crt", "/etc/ipa/default.conf", "/var/lib/ipa-client/sysrestore/*"]),
            .init(name: "kerberos-hostkeytab", paths: ["/etc/krb5.keytab"]),
            .init(name: "logfiles", paths: ["/var/log/journal/*", "/var/log/*.gz", "/var/log/*.[0-9]", "/var/log/*/*.gz", "/var/log/*/*.[0-9]",
                                            "/var/log/*.old", "/var/log/installer", "/var/log/anaconda"]),
            .init(name: "machine-id", paths: ["/var/lib/dbus/machine-id"]),
            .init(name: "mail-spool", paths: ["/var/spool/mail/*", "/var/mail/*"]),
            .init(name: "net-nmconn", paths: ["/etc/NetworkManager/system-connections/*"]),
            .init(name: "pacct-log", paths: ["/var/account/pacct*", "/var/log/account/pacct*"]),
            .init(name: "package-manager-cache", paths: ["/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb", "/var/cache/apt/archives/partial/*",
                                                         "/var/lib/apt/lists/*_*", "/var/cache/dnf/*", "/var/cache/yum/*"]),
            .init(name: "pam-data", paths: ["/var/run/faillock/*", "/var/lib/faillock/*"]),
            .init(name: "passwd-backups", paths: ["/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"]),
            .init(name: "puppet-data-log", paths: ["/var/log/puppet/*", "/var/lib/puppet/reports/*"]),
            .init(name: "rh-subscription-manager", paths: ["/etc/pki/consumer/*", "/etc/pki/entitlement/*"]),
            .init(name: "rhn-systemid", paths: ["/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"]),
            .init(name: "rpm-db", paths: ["/var/lib/rpm/__db.*"]),
            .init(name: "samba-db-log", paths: ["/var/log/samba/old/*", "/var/log/samba/*.log", "/var/lib/samba/*.tdb"]),
            .init(name: "smolt-uuid", paths: ["/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"]),
            .init(name: "ssh-hostkeys", paths: ["/etc/ssh/ssh_host_*"]),
            .init(name: "ssh-userdir", paths: ["/root/.ssh", "/home/*/.ssh"]),
            .init(name: "sssd-db-log", paths: ["/var/log/sssd/*", "/var/lib/sss/db/*"]),
            .init(name: "tmp-files", paths: ["/tmp/*", "/tmp/.[!.]*", "/var/tmp/*", "/var/tmp/.[!.]*"]),
            .init(name: "udev-persistent-net", paths: ["/etc/udev/rules.d/70-persistent-net.rules"]),
            .init(name: "utmp", paths: ["/var/run/utmp"]),
            .init(name: "yum-uuid", paths: ["/var/lib/yum/uuid"]),
            // Beyond virt-sysprep's defaults: what a build itself leaves.
            .init(name: "random-seed", paths: ["/var/lib/systemd/random-seed", "/var/lib/random-seed"]),
            .init(name: "build-user", paths: ["/home/\(buildUser)", "/etc/sudoers.d/90-cloud-init-users", "/var/spool/mail/\(buildUser)"]),
            .init(name: "ansible-state", paths: ["/root/.ansible", "/root/.cache"]),
            .init(name: "cloud-init-state", paths: ["/var/lib/cloud"]),
            .init(name: "kvmbuild-build-files", paths: ConfigDriveContent.buildTimePaths),
        ]
    }

    /// One shell script for the guest's own /bin/sh (chrooted by libguestfs): removes every
    /// path, the build user, and the build's hostname; prints what it removed, one per line.
    static func script(_ operations: [SealOperation], buildUser: String, buildHostname: String) -> String {
        let globs = operations.flatMap(\.paths).joined(separator: " ")
        return """
        set -e
        if grep -q '^\(buildUser):' /etc/passwd; then userdel -r -f \(buildUser) >/dev/null 2>&1 || userdel -f \(buildUser); echo "user \(buildUser)"; fi
        for p in \(globs); do
          if [ -e "$p" ] || [ -L "$p" ]; then rm -rf -- "$p"; echo "$p"; fi
        done
        find /var/log -type f -size +0 -exec truncate -s 0 {} + -exec echo "{} (emptied)" \\;
        if [ -s /etc/machine-id ]; then : > /etc/machine-id; echo "/etc/machine-id (emptied)"; fi
        for f in /etc/sysconfig/network-scripts/ifcfg-*; do
          if [ -f "$f" ] && grep -Eq '^(HOSTNAME|DHCP_HOSTNAME|HWADDR)=' "$f"; then sed -Ei '/^(HOSTNAME|DHCP_HOSTNAME|HWADDR)=/d' "$f"; echo "$f (net-hostname, net-hwaddr)"; fi
        done
        if [ -f /etc/hostname ] && grep -qx '\(buildHostname)' /etc/hostname; then echo localhost > /etc/hostname; echo "/etc/hostname (reset)"; fi
        if [ -f /etc/hosts ] && grep -qw '\(buildHostname)' /etc/hosts; then
          sed -i '/[[:space:]]\(buildHostname)\\([[:space:].]\\|$\\)/d' /etc/hosts; echo "/etc/hosts (build hostname removed)"
        fi
        """
    }

    /// Lists every path of the operations that still exists, and other traces of the build,
    /// as `name<TAB>path` lines; empty output means sealed.
    static func residueScript(_ operations: [SealOperation], buildUser: String, buildHostname: String) -> String {
        var lines = ["set +e"]
        for operation in operations {
            lines.append("for p in \(operation.paths.joined(separator: " ")); do if [ -e \"$p\" ] || [ -L \"$p\" ]; then printf '%s\\t%s\\n' \(operation.name) \"$p\"; fi; done")
        }
        lines += [
            "for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow; do grep -q '^\(buildUser):' \"$f\" 2>/dev/null && printf 'build-user\\t%s lists \(buildUser)\\n' \"$f\"; done",
            "find /var/log -type f -size +0 2>/dev/null | sed 's/^/logfiles\\t/'",
            "[ -s /etc/machine-id ] && printf 'machine-id\\t/etc/machine-id is not empty\\n'",
            "grep -El '^(HOSTNAME|DHCP_HOSTNAME|HWADDR)=' /etc/sysconfig/network-scripts/ifcfg-* 2>/dev/null | sed 's/^/net-hwaddr\\t/'",
            "grep -qw '\(buildHostname)' /etc/hostname /etc/hosts 2>/dev/null && printf 'hostname\\t/etc/hostname or /etc/hosts names \(buildHostname)\\n'",
            // The build's package cache exists only for the build (QEMU's host address): no apt file may still name it.
            "grep -rlsE 'Proxy[^;]*\(PackageCacheSetting.userNetworkHost.replacingOccurrences(of: ".", with: "\\."))' /etc/apt/apt.conf /etc/apt/apt.conf.d | sed 's/^/build-proxy\\t/'",
            "exit 0",
        ]
        return lines.joined(separator: "\n")
    }
}
