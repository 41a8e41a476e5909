#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine: host setup, the embedded default base
# image, a build of kvmbuild, the host check, and `kvmbuild compute`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/build-base-image.sh >/dev/null
key=$(bash scripts/make-test-munge-key.sh)
echo "quickstart: using the test munge key $key (real builds: --munge-key with the cluster's key)"
bash scripts/swift.sh build
kvmbuild=.build/debug/kvmbuild
"$kvmbuild" check
"$kvmbuild" compute "$@"
echo "quickstart: image, manifest and logs are in build/compute-latest/"
ls -l build/compute-latest/
