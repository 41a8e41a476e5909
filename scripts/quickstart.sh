#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine: host setup, the embedded default base
# image, a local Keystone + Glance on 127.0.0.1, a build of kvmbuild, the host check, and
# `kvmbuild compute --upload`, ending with the Glance image id.
#   ./scripts/quickstart.sh [more kvmbuild compute flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
key=$(bash scripts/make-test-munge-key.sh)
echo "quickstart: test munge key $key (real builds: --munge-key with the cluster's key)" >&2

# The base image and Keystone + Glance are mostly download and disk work: prepare them while
# kvmbuild compiles (a release build: about 14 minutes on this 2-core machine, measured 2026-12-02;
# a debug build took about three: bench/FRESH-MACHINE.md).
logs=$(mktemp -d)
bash scripts/build-base-image.sh >"$logs/base" 2>&1 &
base_pid=$!
bash scripts/openstack-local.sh start >"$logs/openstack" 2>"$logs/openstack.err" &
openstack_pid=$!
# Only jobs still running are killed: a finished job's PID may belong to someone else by then.
trap 'for pid in $base_pid $openstack_pid; do kill "$pid" 2>/dev/null || true; done; rm -rf "$logs"' EXIT
echo "quickstart: building the base image and starting Keystone + Glance while kvmbuild compiles" >&2

# The configuration users ship: a release build (md5 + sha512 of the upload and the secret scan
# are several times faster than in a debug build; the tests use debug).
bash scripts/swift.sh build -c release
if ! wait "$base_pid"; then cat "$logs/base" >&2; echo "quickstart: building the base image failed" >&2; exit 1; fi
base_pid=""
if ! wait "$openstack_pid"; then cat "$logs/openstack.err" >&2; echo "quickstart: starting Keystone + Glance failed" >&2; exit 1; fi
openstack_pid=""
export OS_CLIENT_CONFIG_FILE
OS_CLIENT_CONFIG_FILE=$(cat "$logs/openstack")

kvmbuild=.build/release/kvmbuild
"$kvmbuild" check
image_id=$("$kvmbuild" compute --upload --os-cloud kvmbuild-demo --image-name compute --replace "$@")
echo
echo "Glance image id: $image_id"
echo "  see it:  OS_CLIENT_CONFIG_FILE=$OS_CLIENT_CONFIG_FILE openstack --os-cloud kvmbuild-demo image show $image_id"
echo "  Keystone + Glance keep running on 127.0.0.1; stop them with: bash scripts/openstack-local.sh stop"
echo "image, manifest and logs: $(readlink -f build/compute-latest)/"
ls -l build/compute-latest/
