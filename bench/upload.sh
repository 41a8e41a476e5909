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

# kvmbuild twice: a bare file (md5 + sha512 computed while sending), and the same file as a
# build folder, which is what `kvmbuild compute --upload` and `kvmbuild upload build/NAME` send:
# its manifest carries the md5 and sha512 the export phase took, and Glance's hashes are checked
# against those. The export's hashing is timed here too, with coreutils' md5sum, sha512sum and
# sha256sum in parallel (the algorithms and threads the export phase uses), and reported apart.
t2=$(date +%s.%N)
/usr/bin/time -f '%M %U %S' -o "$work/rss" "$kvmbuild" upload "$work/image.qcow2" --name "bench-kvmbuild-$$" --os-cloud kvmbuild-demo --force > "$work/kvm.id"
t3=$(date +%s.%N)
ids+=("$(cat "$work/kvm.id")")

mkdir "$work/bench-1"
mv "$work/image.qcow2" "$work/bench-1/bench-1.qcow2"
t4=$(date +%s.%N)
md5sum "$work/bench-1/bench-1.qcow2" > "$work/md5" & sha512sum "$work/bench-1/bench-1.qcow2" > "$work/sha512" & sha256sum "$work/bench-1/bench-1.qcow2" > "$work/sha256" & wait
t5=$(date +%s.%N)
/usr/bin/python3 - "$work/bench-1" "$bytes" <<'PY'
import json, sys
folder, size = sys.argv[1], int(sys.argv[2])
word = lambda name: open(f"{folder}/../{name}").read().split()[0]
manifest = {
    "name": "bench-1", "target": "bench", "build_id": "bench", "created": "2026-01-01T00:00:00Z", "git_sha": "bench", "accelerator": "tcg",
    "image": {"path": f"{folder}/bench-1.qcow2", "sha256": word("sha256"), "size_bytes": size, "virtual_size_bytes": size,
              "md5": word("md5"), "sha512": word("sha512")},
    "inputs": {"base_image_source": "bench", "base_image_sha256": "bench", "playbook": "bench", "playbook_tree_sha256": "bench", "groups": [],
               "extra_var_names": [], "secret_var_names": [], "var_files": [], "munge_key_provided": False, "seed": "configdrive"},
    "phases": [], "sealed": [], "verified": [], "glance": {"properties": {}, "tags": []},
}
json.dump(manifest, open(f"{folder}/manifest.json", "w"))
PY
t6=$(date +%s.%N)
/usr/bin/time -f '%M %U %S' -o "$work/rss-build" "$kvmbuild" upload "$work/bench-1" --name "bench-kvmbuild-build-$$" --os-cloud kvmbuild-demo --force > "$work/kvm-build.id"
t7=$(date +%s.%N)
ids+=("$(cat "$work/kvm-build.id")")

osc=$(echo "$t1 - $t0" | bc); kvm=$(echo "$t3 - $t2" | bc); hashing=$(echo "$t5 - $t4" | bc); kvm_build=$(echo "$t7 - $t6" | bc)
read -r rss_kib cpu_user cpu_sys < "$work/rss"
read -r rss_build_kib build_user build_sys < "$work/rss-build"
/usr/bin/python3 - "$bytes" "$osc" "$kvm" "$rss_kib" "$cpu_user" "$cpu_sys" "$kvm_build" "$rss_build_kib" "$build_user" "$build_sys" "$hashing" <<'PY'
import sys
size, osc, kvm, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cpu = float(sys.argv[5]) + float(sys.argv[6])
kvm_build, rss_build, cpu_build, hashing = float(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9]) + float(sys.argv[10]), float(sys.argv[11])
mib = size / 2**20
print(f"{'':24}{'openstack CLI':>14}{'kvmbuild build':>16}{'kvmbuild file':>15}")
print(f"{'wall s (incl. auth)':24}{osc:>14.1f}{kvm_build:>16.1f}{kvm:>15.1f}")
print(f"{'MiB/s':24}{mib / osc:>14.0f}{mib / kvm_build:>16.0f}{mib / kvm:>15.0f}")
print(f"{'kvmbuild CPU s':24}{'':>14}{cpu_build:>16.1f}{cpu:>15.1f}")
print(f"{'kvmbuild peak RSS MiB':24}{'':>14}{rss_build / 1024:>16.1f}{rss / 1024:>15.1f}")
print(f"throughput ratio kvmbuild/openstack, a build (what users upload): {osc / kvm_build:.2f} (target >= 1.2)")
print(f"throughput ratio kvmbuild/openstack, a bare file (hashed while sent): {osc / kvm:.2f}")
print(f"the export's md5 + sha512 + sha256 of this file, 3 threads (paid in the build's export phase): {hashing:.1f} s")
print(f"kvmbuild peak RSS: {max(rss, rss_build) / 1024:.1f} MiB (target <= 64)")
PY
