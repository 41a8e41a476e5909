#!/usr/bin/env bash
# The Swift toolchain's own driver. Debian's glance packages install python3-swiftclient, whose
# /usr/bin/swift (the object-store client) shadows the toolchain when it sits later on PATH.
set -euo pipefail
swiftc_path=$(command -v swiftc) || { echo "swiftc not found: install the Swift toolchain (swift.org) and put it on PATH" >&2; exit 1; }
exec "$(dirname "$swiftc_path")/swift" "$@"
