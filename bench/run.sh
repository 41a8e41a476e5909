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
#   BENCH_PACKAGE_CACHE=off (default)    neither tool's guest uses a package cache (kvmbuild:
#                                        --package-cache off): the cold build, target <= 0.75x
#   BENCH_PACKAGE_CACHE=warm             both fetch through apt-cacher-ng on the same store,
#                                        <cache>/package-cache/cache (kvmbuild: its own, auto;
#                                        Packer: one the bench starts on that store for its run,
#                                        set in its guest's apt like kvmbuild's): target <= 0.6x.
#                                        Each tool's upstream fetches are printed: run it once
#                                        to warm the store, then in both orders.
# Both tools run the playbook with the project's ansible/ansible.cfg (pipelining).
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
  cp "$work/acng/log/apt-cacher.log" "$logs/packer-package-cache.log" 2>/dev/null || true
}
trap 'rc=$?; stop_packer_cache 2>/dev/null || true; keep_logs; if [ "$rc" = 0 ]; then rm -rf "$work"; echo "bench: logs in $logs" >&2; else echo "bench: failed; logs kept in $work" >&2; fi' EXIT
cache_mode="${BENCH_PACKAGE_CACHE:-off}"
case "$cache_mode" in off|warm) ;; *) echo "bench: BENCH_PACKAGE_CACHE is off or warm, not $cache_mode" >&2; exit 2 ;; esac
store="${KVMBUILD_CACHE:-$HOME/.cache/kvmbuild}/package-cache"
echo "bench: accelerator $accel, base $base, work $work, package cache $cache_mode" >&2

# Packer's package cache (warm): apt-cacher-ng as kvmbuild runs it, on kvmbuild's store, only
# while Packer builds (kvmbuild's own is not running then: no build holds it).
cache_port=3190
start_packer_cache() {
  mkdir -p "$work/acng/conf" "$work/acng/log" "$work/acng/run" "$store/cache"
  : > "$work/acng/conf/acng.conf"
  /usr/sbin/apt-cacher-ng -c "$work/acng/conf" ForeGround=0 Port=$cache_port BindAddress=127.0.0.1 CacheDir="$store/cache" \
    LogDir="$work/acng/log" PidFile="$work/acng/run/pid" SocketPath="$work/acng/run/socket" AllowUserPorts=80
  for _ in $(seq 100); do [ -s "$work/acng/run/pid" ] && break; sleep 0.1; done
}
stop_packer_cache() {
  if [ -s "$work/acng/run/pid" ]; then
    pid=$(cat "$work/acng/run/pid")
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$work/acng/conf" && kill "$pid"
    # Gone, or a zombie (empty command line): its log is written by then.
    for _ in $(seq 50); do [ -n "$(tr -d '\0' < "/proc/$pid/cmdline" 2>/dev/null)" ] || break; sleep 0.1; done
  fi
}

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
$(if [ "$cache_mode" = warm ]; then printf '  - path: /etc/apt/apt.conf.d/95-bench-proxy\n    content: |\n      Acquire::http::Proxy "http://10.0.2.2:%s/";\n' "$cache_port"; fi)
  - path: /etc/munge/munge.key
    encoding: b64
    content: $(base64 -w0 "$munge_key")
    owner: root:root
    permissions: '0400'
YAML
printf 'instance-id: iid-bench-%s\nlocal-hostname: builder\n' "$(date +%s)" > "$work/seed/meta-data"

run_packer() {
  echo "bench: packer build ..." >&2
  if [ "$cache_mode" = warm ]; then start_packer_cache; fi
  t0=$(date +%s.%N)
  (cd "$work" && PACKER_TMP_DIR="$work/tmp" TMPDIR="$work/tmp" CHECKPOINT_DISABLE=1 PACKER_LOG=1 \
    packer build -timestamp-ui -color=false \
      -var "base_image=$base" -var "base_sha256=$base_sha" -var "accelerator=$accel" \
      -var "output_dir=$work/packer-out" -var "seed_dir=$work/seed" -var "ssh_key=$work/id_ed25519" \
      -var "playbook=$repo/ansible/site.yml" -var "serial_log=$work/packer-serial.log" -var "ansible_cfg=$repo/ansible/ansible.cfg" \
      "$repo/bench/packer-compute.json" > "$work/packer.log" 2>&1) || { tail -30 "$work/packer.log" >&2; stop_packer_cache; exit 1; }
  t1=$(date +%s.%N)
  stop_packer_cache
}

run_kvmbuild() {
  echo "bench: kvmbuild compute ..." >&2
  t2=$(date +%s.%N)
  # --no-test: Packer has no boot test of its export; bench/boot.sh measures that phase on its own.
  "$kvmbuild" compute --no-test --build-dir "$work/kvmbuild" --accel "$accel" --package-cache "$([ "$cache_mode" = warm ] && echo auto || echo off)" \
    > "$work/kvmbuild.out" 2> "$work/kvmbuild.log" \
    || { tail -30 "$work/kvmbuild.log" >&2; exit 1; }
  t3=$(date +%s.%N)
}

if [ "${BENCH_FIRST:-packer}" = kvmbuild ]; then run_kvmbuild; run_packer; else run_packer; run_kvmbuild; fi
echo "bench: $(date -u +%FT%TZ), ${BENCH_FIRST:-packer} first" >&2

PACKER_TOTAL=$(echo "$t1 - $t0" | bc) KVMBUILD_TOTAL=$(echo "$t3 - $t2" | bc) WORK="$work" CACHE_MODE="$cache_mode" STORE="$store" T2="$t2" T3="$t3" /usr/bin/python3 - <<'PY'
import json, os, re, datetime, glob
work = os.environ["WORK"]
mode = os.environ["CACHE_MODE"]
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
if mode == "warm":
    # apt-cacher-ng's transfer logs: an I record is a fetch from the mirror (a miss).
    def misses(path, start=0, end=float("inf")):
        try:
            return sum(1 for l in open(path) if l.count("|") >= 4 and l.split("|")[1] == "I" and l.rstrip().endswith(".deb")
                       and start - 1 <= int(l.split("|")[0]) <= end + 1)
        except OSError: return -1
    print(f"package cache: .deb files fetched from the mirror during the run: packer {misses(os.path.join(work, 'acng/log/apt-cacher.log'))}, "
          f"kvmbuild {misses(os.path.join(os.environ['STORE'], 'log/apt-cacher.log'), float(os.environ['T2']), float(os.environ['T3']))}")
limit = 0.6 if mode == "warm" else 0.75
print(f"targets ({mode} package cache): total <= {limit}x ({'met' if kt / pt <= limit else 'MISSED'}), image <= 0.85x ({'met' if k_img / p_img <= 0.85 else 'MISSED'})")
PY
