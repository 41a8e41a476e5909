#!/usr/bin/env bash
# Benchmark (not a test): `kvmbuild upload` against `openstack image create` on the same qcow2
# of >= 1 GiB, to the local Glance (scripts/openstack-local.sh). Prints each tool's wall time
# and throughput, the ratio kvmbuild/openstack (higher is better), and kvmbuild's peak RSS.
#   bench/upload.sh [MiB of random data, default 1100]
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-1100}"
export OS_CLIENT_CONFIG_FILE
OS_CLIENT_CONFIG_FILE=$(bash scripts/openstack-local.sh start)
# The build users run (the quickstart's): release.
if [ -z "${KVMBUILD_BIN:-}" ]; then bash scripts/swift.sh build -c release >/dev/null; fi
kvmbuild="${KVMBUILD_BIN:-$PWD/.build/release/kvmbuild}"
work=$(mktemp -d /tmp/kvmbuild-upbench.XXXXXX)
ids=()
cleanup() {
  for id in "${ids[@]}"; do /usr/bin/openstack --os-cloud kvmbuild-demo image delete "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

head -c "$((mib << 20))" /dev/urandom > "$work/disk.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/image.qcow2"
rm -f "$work/disk.raw"
bytes=$(stat -c %s "$work/image.qcow2")
echo "upload bench: $((bytes >> 20)) MiB qcow2" >&2

t0=$(date +%s.%N)
/usr/bin/openstack --os-cloud kvmbuild-demo image create --disk-format qcow2 --container-format bare \
  --file "$work/image.qcow2" -f value -c id "bench-osc-$$" > "$work/osc.id"
t1=$(date +%s.%N)
ids+=("$(cat "$work/osc.id")")

t2=$(date +%s.%N)
/usr/bin/time -f '%M %U %S' -o "$work/rss" "$kvmbuild" upload "$work/image.qcow2" --name "bench-kvmbuild-$$" --os-cloud kvmbuild-demo --force > "$work/kvm.id"
t3=$(date +%s.%N)
ids+=("$(cat "$work/kvm.id")")

osc=$(echo "$t1 - $t0" | bc); kvm=$(echo "$t3 - $t2" | bc); read -r rss_kib cpu_user cpu_sys < "$work/rss"
/usr/bin/python3 - "$bytes" "$osc" "$kvm" "$rss_kib" "$cpu_user" "$cpu_sys" <<'PY'
import sys
size, osc, kvm, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cpu = float(sys.argv[5]) + float(sys.argv[6])
mib = size / 2**20
print(f"{'':24}{'openstack CLI':>14}{'kvmbuild':>12}")
print(f"{'wall s (incl. auth)':24}{osc:>14.1f}{kvm:>12.1f}")
print(f"{'MiB/s':24}{mib / osc:>14.0f}{mib / kvm:>12.0f}")
print(f"throughput ratio kvmbuild/openstack: {osc / kvm:.2f} (target >= 1.2)")
print(f"kvmbuild CPU s (user + sys): {cpu:.1f} of {kvm:.1f} s wall (the rest is waiting on Glance)")
print(f"kvmbuild peak RSS: {rss / 1024:.1f} MiB (target <= 64)")
PY
