#!/usr/bin/env bash
# `ansible-test sanity` on the collection in contrib/ansible (every sanity test,
# requirements from PyPI only). ansible-test runs only inside a collection tree
# (ansible_collections/NAMESPACE/NAME, named by galaxy.yml), so the collection's files
# are copied into one in a temp dir.
#
# Everything ansible-test installs is kept under one cache directory, so a second run
# installs nothing: a virtual environment with the same ansible-core as this machine's
# (ansible-test runs from it, so this machine's Python is left alone), and ansible-test's
# own per-test environments, which it keeps under ~/.ansible/test/venv keyed by their
# requirements (HOME is pointed into the cache for that).
#
#   tests/ansible/sanity.sh [extra ansible-test args, e.g. --test validate-modules]
#
# The cache is /var/cache/jitsi-meet-tokens-ansible-test when /var/cache is writable
# (CI, as root), else ~/.cache/jitsi-meet-tokens-ansible-test;
# JITSI_MEET_TOKENS_ANSIBLE_TEST_CACHE overrides it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
src="$repo/contrib/ansible"
if [ -w /var/cache ]; then
    default_cache=/var/cache/jitsi-meet-tokens-ansible-test
else
    default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-meet-tokens-ansible-test"
fi
cache="${JITSI_MEET_TOKENS_ANSIBLE_TEST_CACHE:-$default_cache}"

py="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
core="$(python3 -c 'import ansible.release as r; print(r.__version__)')"
read -r namespace name < <(python3 -c 'import sys, yaml
g = yaml.safe_load(open(sys.argv[1]))
print(g["namespace"], g["name"])' "$src/galaxy.yml")

venv="$cache/venv/python$py-ansible-core-$core"
# The marker is written last, so an interrupted set-up is redone.
if [ ! -f "$venv/complete" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q "ansible-core==$core"
    touch "$venv/complete"
fi
export HOME="$cache/home"

# ansible-test bootstraps pip in its per-test environments with a get-pip script it
# downloads from a host outside PyPI unless that script is in its cache; cache a
# stand-in that uses Python's bundled pip (ensurepip) instead.
pipver="$("$venv/bin/python" -c 'import inspect, re, ansible_test._internal.python_requirements as p
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(p.get_venv_packages)).group(1))')"
getpip="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
if [ ! -f "$getpip" ]; then
    mkdir -p "$(dirname "$getpip")"
    cat >"$getpip" <<'PY'
# Stand-in for the get-pip bootstrap: install the bundled pip, then let it install the
# requested pip version from PyPI.
import ensurepip
import os
import runpy
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points pip at an empty config; use the machine's again (CA bundle).
os.environ.pop("PIP_CONFIG_FILE", None)
sys.argv = ["pip", "install"] + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
coll="$work/ansible_collections/$namespace/$name"
mkdir -p "$coll"
# The collection's files as git sees them (tracked and new, not ignored).
git -C "$src" ls-files -z --cached --others --exclude-standard -- . |
    (cd "$src" && xargs -0 cp --parents -t "$coll")
cd "$coll"
git init -q . && git add -A # ansible-test lists a collection's files through git
export PATH="$venv/bin:$PATH"
exec ansible-test sanity --local --python "$py" --requirements "$@"
