#!/usr/bin/env bash
# All tests: host setup (idempotent), the embedded base image (cached), a local Keystone + Glance,
# ansible-lint, a debug build, then `swift test` — unit tests, and integration tests that boot
# real guests under libvirt and upload to the real Glance.
#   ./scripts/test.sh [swift test arguments, e.g. --filter Inventory]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/make-test-munge-key.sh >/dev/null

# The base image, Keystone + Glance and ansible-lint (a PyPI install on a fresh clone) are mostly
# download and disk work: they run while the Swift code compiles.
logs=$(mktemp -d)
bash scripts/build-base-image.sh >"$logs/base" 2>&1 &
base_pid=$!
bash scripts/lint-ansible.sh >"$logs/lint" 2>&1 &
lint_pid=$!

# Start Keystone + Glance unless they already run; stop them afterwards only if we started them.
started_openstack=0
if ! bash scripts/openstack-local.sh status | grep -q "glance-api running"; then started_openstack=1; fi
bash scripts/openstack-local.sh start >"$logs/openstack" 2>&1 &
openstack_pid=$!
cleanup() {
  # Only this script's jobs that still run (jobs -pr): a finished job's PID may be someone else's.
  for pid in $(jobs -pr); do kill "$pid" 2>/dev/null || true; done
  [ "$started_openstack" = 1 ] && bash scripts/openstack-local.sh stop || true
  rm -rf "$logs"
}
trap cleanup EXIT

bash scripts/swift.sh build --build-tests
if ! wait "$lint_pid"; then cat "$logs/lint" >&2; echo "test.sh: ansible-lint failed" >&2; exit 1; fi
cat "$logs/lint"
# The Debian package of this build (static Swift runtime, man page, completions, lintian),
# installed, run and removed again; a relink of the debug build, not a second compile.
bash scripts/test-package.sh
if ! wait "$base_pid"; then cat "$logs/base" >&2; echo "test.sh: building the base image failed" >&2; exit 1; fi
if ! wait "$openstack_pid"; then cat "$logs/openstack" >&2; echo "test.sh: starting Keystone + Glance failed" >&2; exit 1; fi

export KVMBUILD_BIN="$PWD/.build/debug/kvmbuild"
# Integration tests boot guests: one at a time on a small host. The time limit turns a hung test
# into a failure that names itself, instead of a CI run that silently runs out of time.
set +e
timeout --kill-after=60 "${KVMBUILD_TEST_TIMEOUT:-70m}" bash scripts/swift.sh test --no-parallel "$@" </dev/null 2>&1 | tee "$logs/swift-test.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 124 ] && echo "test.sh: swift test exceeded ${KVMBUILD_TEST_TIMEOUT:-70m} (a hung test?)" >&2
# Where the run's time went, one line per suite (the CI budget is watched suite by suite); then the
# runner's own closing lines again, so they stay the last words of the run.
echo "per-suite times:"
grep -aE '^[^ ]+ Suite [A-Za-z]+ (passed|failed) after' "$logs/swift-test.log" | sed -E 's/^[^ ]+ Suite ([A-Za-z]+) (passed|failed) after ([0-9.]+) seconds.*/  \1 \2 \3 s/' || true
grep -aE 'Executed [0-9]+ tests?, with|Test run with [0-9]+ tests?' "$logs/swift-test.log" | tail -2 || true
exit "$rc"
