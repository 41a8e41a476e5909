#!/usr/bin/env bash
# Benchmark (not a test): Packer 1.6.6 (qemu builder + ansible provisioner, Debian's package)
# against `kvmbuild compute`, one after the other on this machine, with the same base image,
# the same ansible/ playbook, the same munge key and the same accelerator. Prints per tool the
# total wall time, guest boot-to-ready, Ansible, the rest ("overhead"), image bytes, and the
# ratios kvmbuild/Packer. kvmbuild also seals and verifies its image; Packer does neither.
#   bench/run.sh            (needs the README's set-up; installs packer if missing)
#   BENCH_FIRST=kvmbuild bench/run.sh    runs kvmbuild first: alternate the order between runs
#                                        so neither tool always meets a warmer mirror or cache
#   KVMBUILD_BIN=path bench/run.sh       measures that binary instead of building .build/debug
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
command -v packer >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null; }
if [ -z "${KVMBUILD_BIN:-}" ]; then bash scripts/swift.sh build >/dev/null; fi
kvmbuild="${KVMBUILD_BIN:-$repo/.build/debug/kvmbuild}"
base=$(bash scripts/build-base-image.sh)
base_sha=$(cut -d' ' -f1 "$base.sha256")
munge_key=$(bash scripts/make-test-munge-key.sh)
accel=$("$kvmbuild" check --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accelerator"])')
work=$(mktemp -d /tmp/kvmbuild-bench.XXXXXX)
# Kept when anything fails, for a look at the logs.
# Logs of every run are kept (images are not), so a surprising ratio can be looked into later.
logs="${BENCH_LOGS:-/tmp/kvmbuild-bench-logs}/$(date -u +%Y%m%dT%H%M%SZ)"
keep_logs() {
  mkdir -p "$logs"
  cp "$work"/*.log "$work"/kvmbuild/*/ansible.log "$work"/kvmbuild/*/manifest.json "$logs/" 2>/dev/null || true
}
trap 'rc=$?; keep_logs; if [ "$rc" = 0 ]; then rm -rf "$work"; echo "bench: logs in $logs" >&2; else echo "bench: failed; logs kept in $work" >&2; fi' EXIT
echo "bench: accelerator $accel, base $base, work $work" >&2

# Packer's seed: NoCloud with the same essentials kvmbuild's config drive carries.
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
mkdir -p "$work/seed" "$work/tmp"
cat > "$work/seed/user-data" <<YAML
#cloud-config
ssh_pwauth: false
users:
  - name: packer
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys: ["$(cat "$work/id_ed25519.pub")"]
write_files:
  - path: /etc/munge/munge.key
    encoding: b64
    content: $(base64 -w0 "$munge_key")
    owner: root:root
    permissions: '0400'
YAML
printf 'instance-id: iid-bench-%s\nlocal-hostname: builder\n' "$(date +%s)" > "$work/seed/meta-data"

run_packer() {
  echo "bench: packer build ..." >&2
  t0=$(date +%s.%N)
  (cd "$work" && PACKER_TMP_DIR="$work/tmp" TMPDIR="$work/tmp" CHECKPOINT_DISABLE=1 PACKER_LOG=1 \
    packer build -timestamp-ui -color=false \
      -var "base_image=$base" -var "base_sha256=$base_sha" -var "accelerator=$accel" \
      -var "output_dir=$work/packer-out" -var "seed_dir=$work/seed" -var "ssh_key=$work/id_ed25519" \
      -var "playbook=$repo/ansible/site.yml" -var "serial_log=$work/packer-serial.log" \
      "$repo/bench/packer-compute.json" > "$work/packer.log" 2>&1) || { tail -30 "$work/packer.log" >&2; exit 1; }
  t1=$(date +%s.%N)
}

run_kvmbuild() {
  echo "bench: kvmbuild compute ..." >&2
  t2=$(date +%s.%N)
  # --no-test: Packer has no boot test of its export; bench/boot.sh measures that phase on its own.
  "$kvmbuild" compute --no-test --build-dir "$work/kvmbuild" --accel "$accel" > "$work/kvmbuild.out" 2> "$work/kvmbuild.log" \
    || { tail -30 "$work/kvmbuild.log" >&2; exit 1; }
  t3=$(date +%s.%N)
}

if [ "${BENCH_FIRST:-packer}" = kvmbuild ]; then run_kvmbuild; run_packer; else run_packer; run_kvmbuild; fi
echo "bench: $(date -u +%FT%TZ), ${BENCH_FIRST:-packer} first" >&2

PACKER_TOTAL=$(echo "$t1 - $t0" | bc) KVMBUILD_TOTAL=$(echo "$t3 - $t2" | bc) WORK="$work" /usr/bin/python3 - <<'PY'
import json, os, re, datetime, glob
work = os.environ["WORK"]
pt, kt = float(os.environ["PACKER_TOTAL"]), float(os.environ["KVMBUILD_TOTAL"])

# Packer: UI lines carry RFC3339 timestamps (1 s resolution) with -timestamp-ui.
stamps = {}
pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ): (.*)$")
marks = {"qemu": "Starting VM", "ssh": "Connected to SSH!", "shell": "Provisioning with shell script",
         "ansible": "Provisioning with Ansible", "halt": "Gracefully halting", "done": "Builds finished"}
ansi = re.compile(r"\x1b\[[0-9;]*m")
for line in open(os.path.join(work, "packer.log"), errors="replace"):
    m = pat.match(ansi.sub("", line))
    if not m: continue
    for key, text in marks.items():
        if text in m.group(2) and key not in stamps:
            stamps[key] = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")
def span(a, b): return (stamps[b] - stamps[a]).total_seconds()
p_boot = span("qemu", "ansible")          # to SSH, plus the cloud-init wait
p_play = span("ansible", "halt")
p_img = os.path.getsize(glob.glob(os.path.join(work, "packer-out", "*.qcow2"))[0])

manifest = json.load(open(glob.glob(os.path.join(work, "kvmbuild", "*", "manifest.json"))[0]))
phases = {p["phase"]: p["seconds"] for p in manifest["phases"]}
k_boot = phases["wait-for-ssh"]
k_play = phases["provision"]
k_img = manifest["image"]["size_bytes"]

rows = [("total wall s", pt, kt), ("boot-to-ready s", p_boot, k_boot), ("ansible s", p_play, k_play),
        ("overhead s", pt - p_boot - p_play, kt - k_boot - k_play), ("image bytes", p_img, k_img)]
print(f"{'':18}{'packer':>14}{'kvmbuild':>14}{'ratio':>8}")
for name, p, k in rows:
    print(f"{name:18}{p:>14.1f}{k:>14.1f}{k / p:>8.2f}")
print("kvmbuild phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))
print(f"targets: total <= 0.85x ({'met' if kt / pt <= 0.85 else 'MISSED'}), image <= 0.85x ({'met' if k_img / p_img <= 0.85 else 'MISSED'})")
PY
