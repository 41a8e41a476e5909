#!/usr/bin/env bash
# Installs every Debian package kvmbuild needs and starts virtlogd + libvirtd.
# Idempotent: a second run installs nothing and starts nothing that already runs.
# Works with systemd (systemctl) and without it (daemons started by hand, as in CI).
set -euo pipefail

PACKAGES=(
  qemu-system-x86 qemu-utils ovmf
  libvirt-daemon-system libvirt-clients libvirt-dev
  libguestfs-dev libguestfs-tools linux-image-amd64
  xorriso ansible openssh-client vde2 apt-cacher-ng
  debootstrap fdisk e2fsprogs util-linux dosfstools
  pkg-config curl ca-certificates python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A policy-rc.d that denies starts keeps package postinsts from launching daemons we start ourselves.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# libguestfs' supermin needs a readable kernel; Debian keeps /boot/vmlinuz-* 0600.
chmod 0644 /boot/vmlinuz-* 2>/dev/null || true

running() { pgrep -x "$1" >/dev/null 2>&1; }
if [ -d /run/systemd/system ]; then
  systemctl start virtlogd libvirtd
else
  running virtlogd || virtlogd -d
  running libvirtd || libvirtd -d
fi

# libvirtd takes a moment to open its socket: wait (bounded) so callers can connect at once.
for _ in $(seq 1 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -c qemu:///system version >/dev/null 2>&1 || { echo "setup-host: libvirtd did not answer on qemu:///system; see /var/log/libvirt/" >&2; exit 1; }
echo "setup-host: ready ($(virsh -c qemu:///system version | sed -n 's/^Running hypervisor: //p'))"
