#!/usr/bin/env bash
# All tests: host setup (idempotent), the embedded base image (cached), a local Keystone + Glance,
# ansible-lint, a debug build, then `swift test` — unit tests, and integration tests that boot
# real guests under libvirt and upload to the real Glance.
#   ./scripts/test.sh [swift test arguments, e.g. --filter Inventory]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/make-test-munge-key.sh >/dev/null

# The base image is mostly download and disk work: build it while the rest compiles.
base_log=$(mktemp)
bash scripts/build-base-image.sh >"$base_log" 2>&1 &
base_pid=$!

# Start Keystone + Glance unless they already run; stop them afterwards only if we started them.
started_openstack=0
if ! bash scripts/openstack-local.sh status | grep -q "glance-api running"; then started_openstack=1; fi
cleanup() {
  kill "$base_pid" 2>/dev/null || true
  [ "$started_openstack" = 1 ] && bash scripts/openstack-local.sh stop || true
  rm -f "$base_log"
}
trap cleanup EXIT
bash scripts/openstack-local.sh start >/dev/null

bash scripts/lint-ansible.sh
bash scripts/swift.sh build --build-tests
if ! wait "$base_pid"; then cat "$base_log" >&2; echo "test.sh: building the base image failed" >&2; exit 1; fi

export KVMBUILD_BIN="$PWD/.build/debug/kvmbuild"
# Integration tests boot guests: one at a time on a small host.
bash scripts/swift.sh test --no-parallel "$@"
