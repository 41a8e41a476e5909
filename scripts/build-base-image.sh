#!/usr/bin/env bash
# Builds the embedded default base image: a small Debian 12 cloud qcow2 made only from Debian
# packages (debootstrap), with cloud-init pinned to ConfigDrive/NoCloud, sshd, python3 and the
# qemu guest agent. Cached outside the repo with a sha256 beside it; rebuilt only when missing.
#
#   scripts/build-base-image.sh [--force]     prints the image path on stdout
#
# Knobs: KVMBUILD_CACHE (default ~/.cache/kvmbuild), MIRROR (default: the host's apt mirror),
#        SIZE (virtual size, default 2G).
# Host quirks handled (see ../shared/notes): no partition parser in the host kernel (partx -a),
# no udev (grub gets root=UUID via a temporary by-uuid link), sync before fstrim.
set -euo pipefail

CACHE="${KVMBUILD_CACHE:-$HOME/.cache/kvmbuild}"
OUT="$CACHE/base/debian-12-kvmbuild.qcow2"
SIZE="${SIZE:-2G}"

if [ "${1:-}" != "--force" ] && [ -s "$OUT" ] && [ -s "$OUT.sha256" ]; then
  echo "$OUT"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-base-image: needs root (debootstrap, loop devices); run it with sudo" >&2; exit 1; }
for tool in debootstrap sfdisk partx qemu-img mkfs.ext4; do
  command -v "$tool" >/dev/null || { echo "build-base-image: $tool missing; run scripts/setup-host.sh first" >&2; exit 1; }
done

host_mirror() {
  # The mirror the host itself uses, so the guest and the build reach the same place.
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${MIRROR:-$(host_mirror)}"
SECMIRROR="${SECMIRROR:-$(grep -hsE '^URIs:.*security' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | head -n1)}"
SECMIRROR="${SECMIRROR:-${MIRROR%/debian}/debian-security}"

mkdir -p "$CACHE/base"
WORK=$(mktemp -d "$CACHE/base/.work.XXXXXX")
RAW="$WORK/disk.raw"; MNT="$WORK/mnt"; LOOP=""; BYUUID=""
cleanup() {
  set +e
  for m in dev/pts dev proc sys; do mountpoint -q "$MNT/$m" && umount -l "$MNT/$m"; done
  mountpoint -q "$MNT" && umount -l "$MNT"
  [ -n "$BYUUID" ] && rm -f "$BYUUID"
  if [ -n "$LOOP" ]; then partx -d "$LOOP" 2>/dev/null; losetup -d "$LOOP"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

t0=$(date +%s)
truncate -s "$SIZE" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
LOOP=$(losetup -f --show -P "$RAW")
[ -b "${LOOP}p1" ] || partx -a "$LOOP"
mkfs.ext4 -q -L rootfs "${LOOP}p1"
UUID=$(blkid -p -s UUID -o value "${LOOP}p1")
mkdir -p "$MNT"; mount "${LOOP}p1" "$MNT"

debootstrap --variant=minbase --include=systemd-sysv,udev,dbus,ca-certificates bookworm "$MNT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
mount --bind /dev "$MNT/dev"; mount --bind /dev/pts "$MNT/dev/pts"; mount -t proc proc "$MNT/proc"; mount -t sysfs sysfs "$MNT/sys"
printf '#!/bin/sh\nexit 101\n' > "$MNT/usr/sbin/policy-rc.d"; chmod +x "$MNT/usr/sbin/policy-rc.d"

rm -f "$MNT/etc/apt/sources.list"
cat > "$MNT/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECMIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
echo 'APT::Install-Recommends "false";' > "$MNT/etc/apt/apt.conf.d/90norecommends"
echo debian > "$MNT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 debian\n' > "$MNT/etc/hosts"
echo "UUID=$UUID / ext4 errors=remount-ro,discard 0 1" > "$MNT/etc/fstab"
mkdir -p "$MNT/etc/network/interfaces.d"
printf 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n' > "$MNT/etc/network/interfaces"
cat <<'SEL' | chroot "$MNT" debconf-set-selections
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
SEL
mkdir -p "$MNT/etc/default"
cat > "$MNT/etc/default/grub" <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB

export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
{
  chroot "$MNT" apt-get update -q
  chroot "$MNT" apt-get dist-upgrade -y -q
  chroot "$MNT" apt-get install -y -q linux-image-cloud-amd64 grub-pc cloud-init cloud-guest-utils fdisk e2fsprogs \
    openssh-server sudo python3 python3-apt qemu-guest-agent ifupdown isc-dhcp-client iproute2 netbase \
    iputils-ping less libpam-systemd
} >"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log" >&2; exit 1; }

mkdir -p "$MNT/etc/cloud/cloud.cfg.d" "$MNT/etc/systemd/system/ssh.service.d"
cat > "$MNT/etc/cloud/cloud.cfg.d/90-kvmbuild-image.cfg" <<'CFG'
# Pinned: probing cloud metadata services that do not exist costs minutes per boot.
datasource_list: [ ConfigDrive, NoCloud ]
# The only locale this minimal image has; anything else makes cc_locale fail the boot.
locale: C.UTF-8
manage_etc_hosts: true
# RSA host keys cost ~8 s under TCG.
ssh_genkeytypes: [ed25519, ecdsa]
CFG
cat > "$MNT/etc/systemd/system/ssh.service.d/10-hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
UNIT

mkdir -p /dev/disk/by-uuid; BYUUID=/dev/disk/by-uuid/$UUID; ln -sf "${LOOP}p1" "$BYUUID"
chroot "$MNT" grub-install --target=i386-pc "$LOOP" >"$WORK/grub.log" 2>&1
chroot "$MNT" update-grub >>"$WORK/grub.log" 2>&1
grep -q "root=UUID=$UUID" "$MNT/boot/grub/grub.cfg" || { echo "build-base-image: grub.cfg lacks root=UUID" >&2; exit 1; }
echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | chroot "$MNT" debconf-set-selections

chroot "$MNT" apt-get clean
rm -rf "$MNT"/var/lib/apt/lists/* "$MNT"/var/cache/apt/*.bin "$MNT"/tmp/* "$MNT/usr/sbin/policy-rc.d" \
       "$MNT"/etc/ssh/ssh_host_* "$MNT/etc/resolv.conf" "$MNT/var/lib/dbus/machine-id" "$MNT/var/lib/cloud"
: > "$MNT/etc/machine-id"
for m in dev/pts dev proc sys; do umount "$MNT/$m"; done
sync; fstrim "$MNT" >/dev/null; umount "$MNT"
e2fsck -fy "${LOOP}p1" >/dev/null 2>&1 || true
partx -d "$LOOP" 2>/dev/null || true; losetup -d "$LOOP"; LOOP=""

rm -f "$OUT.tmp"
qemu-img convert -f raw -c -O qcow2 "$RAW" "$OUT.tmp"
sum=$(sha256sum "$OUT.tmp" | awk '{print $1}')
mv -f "$OUT.tmp" "$OUT"
echo "$sum  $(basename "$OUT")" > "$OUT.sha256"
echo "build-base-image: $OUT ($(du -h "$OUT" | cut -f1), $(( $(date +%s) - t0 )) s)" >&2
echo "$OUT"
