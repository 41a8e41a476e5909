#!/usr/bin/env bash
# The Debian package as a user gets it: builds it (scripts/package-deb.sh), installs it with
# dpkg -i, and with the development build off PATH runs kvmbuild --version, check, validate on
# the shipped example (and on a project's own kvmbuild.yml, which wins), man -w and the
# completions; then removes the package again. lintian runs inside package-deb.sh.
#   scripts/test-package.sh   (KVMBUILD_PACKAGE_CONFIGURATION=release|debug, default debug:
#                              the test run packages its debug build; a release package is
#                              made by scripts/package-deb.sh alone)
set -euo pipefail
cd "$(dirname "$0")/.."
export KVMBUILD_PACKAGE_CONFIGURATION="${KVMBUILD_PACKAGE_CONFIGURATION:-debug}"

if ! command -v man >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends man-db
fi
if dpkg-query -W -f='${Status}' kvmbuild 2>/dev/null | grep -q 'install ok installed'; then
  echo "test-package: kvmbuild is installed already; remove it first (dpkg -r kvmbuild)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/kvmbuild-pkgtest.XXXXXX)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg -r kvmbuild >/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

deb=$(bash scripts/package-deb.sh "$work/dist" | tail -1)
sha=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD || sha="$sha-modified"
version=$(dpkg-deb -f "$deb" Version)
dpkg -i "$deb" >/dev/null
installed=1

fail() { echo "test-package: $*" >&2; exit 1; }
# As a user's shell would run it: /usr/bin first, no .build on PATH, from an empty directory.
mkdir "$work/empty" "$work/project"
run() { (cd "$1" && shift && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME" \
  KVMBUILD_MUNGE_KEY="${KVMBUILD_MUNGE_KEY:-$HOME/.config/kvmbuild/munge.key}" "$@"); }

[ "$(run "$work/empty" sh -c "command -v kvmbuild")" = /usr/bin/kvmbuild ] || fail "kvmbuild on PATH is not /usr/bin/kvmbuild"
reported=$(run "$work/empty" kvmbuild --version)
[ "$reported" = "kvmbuild $version ($sha)" ] || fail "--version says '$reported', expected 'kvmbuild $version ($sha)'"

# check: 0 (can build) or 2 (cannot, with the reasons printed); anything else is a crash.
set +e
run "$work/empty" kvmbuild check > "$work/check" 2>&1
code=$?
set -e
[ "$code" = 0 ] || [ "$code" = 2 ] || { cat "$work/check" >&2; fail "kvmbuild check exited $code"; }
grep -q "accelerator" "$work/check" || fail "kvmbuild check printed no accelerator line"

run "$work/empty" kvmbuild validate > "$work/validate" 2>&1 || { cat "$work/validate" >&2; fail "validate on the shipped example failed"; }
grep -q "compute" "$work/validate" || { cat "$work/validate" >&2; fail "validate did not read the shipped example (no compute target)"; }

# A project's own kvmbuild.yml wins over the shipped one.
cp -r /usr/share/kvmbuild/ansible "$work/project/"
sed 's/^  compute:$/  mine:/' /usr/share/kvmbuild/kvmbuild.yml > "$work/project/kvmbuild.yml"
run "$work/project" kvmbuild validate > "$work/validate-own" 2>&1 || { cat "$work/validate-own" >&2; fail "validate on the project's own file failed"; }
grep -q "mine" "$work/validate-own" || { cat "$work/validate-own" >&2; fail "the project's kvmbuild.yml did not win"; }

[ "$(run "$work/empty" man -w kvmbuild)" = /usr/share/man/man1/kvmbuild.1.gz ] || fail "man -w kvmbuild does not find the man page"
run "$work/empty" man kvmbuild 2>/dev/null | grep -q "compute" || fail "the man page does not describe the compute verb"
run "$work/empty" bash -c 'source /usr/share/bash-completion/completions/kvmbuild && complete -p kvmbuild' >/dev/null || fail "no bash completion for kvmbuild"
[ -s /usr/share/zsh/vendor-completions/_kvmbuild ] && [ -s /usr/share/fish/vendor_completions.d/kvmbuild.fish ] || fail "zsh or fish completion missing"

dpkg -r kvmbuild >/dev/null
installed=0
[ ! -e /usr/bin/kvmbuild ] || fail "dpkg -r left /usr/bin/kvmbuild"
echo "test-package: $(basename "$deb") installs, runs check/validate/man/completions, and removes cleanly"
