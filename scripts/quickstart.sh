#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine: host setup, the embedded default base
# image, a local Keystone + Glance on 127.0.0.1, a build of kvmbuild, the host check, and
# `kvmbuild compute --upload`, ending with the Glance image id.
#   ./scripts/quickstart.sh [more kvmbuild compute flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/build-base-image.sh >/dev/null
key=$(bash scripts/make-test-munge-key.sh)
echo "quickstart: test munge key $key (real builds: --munge-key with the cluster's key)" >&2
export OS_CLIENT_CONFIG_FILE
OS_CLIENT_CONFIG_FILE=$(bash scripts/openstack-local.sh start)
bash scripts/swift.sh build
kvmbuild=.build/debug/kvmbuild
"$kvmbuild" check
image_id=$("$kvmbuild" compute --upload --os-cloud kvmbuild-demo --image-name compute --replace "$@")
echo
echo "Glance image id: $image_id   (openstack --os-cloud kvmbuild-demo image show $image_id)"
echo "image, manifest and logs: $(readlink -f build/compute-latest)/"
ls -l build/compute-latest/
