#!/usr/bin/env bash
# Benchmark (not a test): first boot of the produced compute image against the base image's own
# first boot, both booted the way the test phase boots an instance (`kvmbuild test`: Nova-style
# config drive, one key, no user-data), alternating, on the same host in one run. Prints each
# boot's first-boot-to-SSH and ready (cloud-init done) seconds and the ratio image/base.
#   bench/boot.sh [rounds, default 2] [image, default build/compute-latest]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
image="${2:-build/compute-latest}"
kvmbuild="${KVMBUILD_BIN:-$PWD/.build/debug/kvmbuild}"
cache="${KVMBUILD_CACHE:-$HOME/.cache/kvmbuild}"
base="$cache/base/debian-12-kvmbuild.qcow2"
work=$(mktemp -d /tmp/kvmbuild-bootbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The base has none of the compute checks: only what every instance must show.
cat > "$work/targets.yml" <<YML
targets:
  base-boot:
    base_image: { source: $base, checksum: "file:$base.sha256" }
    playbook: $PWD/ansible/site.yml
    test: { user: debian, commands: [{ run: "true" }] }
YML
boot() {  # $1 label, then kvmbuild test args; prints "label first_boot_to_ssh ready"
  local label=$1; shift
  "$kvmbuild" test "$@" --json > "$work/out.json" 2> "$work/err.log" || { cat "$work/err.log" >&2; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], "%.1f" % r["first_boot_to_ssh_seconds"], "%.1f" % r["ready_seconds"])' "$work/out.json" "$label"
}
echo "boot bench: $(date -u +%FT%TZ), $(nproc) cores, accelerator $("$kvmbuild" check --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["accelerator"])')" >&2
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="base image"; else order="image base"; fi
  for which in $order; do
    if [ "$which" = base ]; then boot base "$base" --target base-boot --file "$work/targets.yml"
    else boot image "$image"; fi
  done
done | tee "$work/results"
python3 - "$work/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
def mean(label, col): return statistics.mean(float(r[col]) for r in rows if r[0] == label)
for col, name in [(1, "first boot to SSH"), (2, "ready (cloud-init done)")]:
    b, i = mean("base", col), mean("image", col)
    print(f"{name}: base {b:.1f} s, image {i:.1f} s, image/base {i / b:.2f}")
PY
