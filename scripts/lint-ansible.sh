#!/usr/bin/env bash
# ansible-lint (PyPI, in a private venv) over ansible/, with Debian's collections (ansible.posix).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-lint
if [ ! -x "$venv/bin/ansible-lint" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'ansible-lint==26.10.1'
fi
cd ansible
PATH="$PWD/../$venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH=/usr/lib/python3/dist-packages ansible-lint site.yml
