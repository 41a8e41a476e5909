#!/usr/bin/env bash
# All tests: host setup (idempotent), the embedded base image (cached), a local Keystone + Glance,
# a debug build, then `swift test` — unit tests, and integration tests that boot real guests
# under libvirt and upload to the real Glance.
#   ./scripts/test.sh [swift test arguments, e.g. --filter Inventory]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/build-base-image.sh >/dev/null
bash scripts/make-test-munge-key.sh >/dev/null

# Start Keystone + Glance unless they already run; stop them afterwards only if we started them.
started_openstack=0
if ! bash scripts/openstack-local.sh status | grep -q "glance-api running"; then started_openstack=1; fi
bash scripts/openstack-local.sh start >/dev/null
stop_openstack() { [ "$started_openstack" = 1 ] && bash scripts/openstack-local.sh stop || true; }
trap stop_openstack EXIT

bash scripts/swift.sh build
export KVMBUILD_BIN="$PWD/.build/debug/kvmbuild"
# Integration tests boot guests: one at a time on a small host.
bash scripts/swift.sh test --no-parallel "$@"
