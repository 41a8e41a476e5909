#!/usr/bin/env bash
# All tests: host setup (idempotent), the embedded base image (cached), a debug build, then
# `swift test` — unit tests and integration tests that boot real guests under libvirt.
#   ./scripts/test.sh [swift test arguments, e.g. --filter Inventory]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/build-base-image.sh >/dev/null
bash scripts/make-test-munge-key.sh >/dev/null
bash scripts/swift.sh build
export KVMBUILD_BIN="$PWD/.build/debug/kvmbuild"
# Integration tests boot guests: one at a time on a small host.
exec bash scripts/swift.sh test --no-parallel "$@"
