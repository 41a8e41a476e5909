#!/usr/bin/env bash
# Writes a throw-away 1024-byte munge key for test builds (never use it on a real cluster:
# real builds take a copy of the cluster's /etc/munge/munge.key).
#   scripts/make-test-munge-key.sh [PATH]   default: ~/.config/kvmbuild/munge.key; keeps an existing key
set -euo pipefail
KEY="${1:-${KVMBUILD_MUNGE_KEY:-$HOME/.config/kvmbuild/munge.key}}"
if [ -s "$KEY" ]; then echo "$KEY"; exit 0; fi
mkdir -p "$(dirname "$KEY")"
( umask 077; head -c 1024 /dev/urandom > "$KEY.tmp" && mv "$KEY.tmp" "$KEY" )
echo "$KEY"
