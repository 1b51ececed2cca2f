#!/usr/bin/env bash
# ansible-test sanity on the Ansible module and role. ansible-test only runs inside a
# collection tree (ansible_collections/NS/NAME), so this lays contrib/ansible out as the
# collection "jitsi.meet_tokens" in a temp dir and runs every sanity test there with
# requirements from PyPI (needs ansible-core and network access to PyPI; ~4 min).
#
#   tests/ansible/sanity.sh [extra ansible-test args, e.g. --test validate-modules]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
src="$repo/contrib/ansible"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
coll="$work/ansible_collections/jitsi/meet_tokens"
mkdir -p "$coll/plugins/modules" "$coll/roles" "$coll/meta" "$coll/tests/sanity"
cp "$src/library/jitsi_meet_tokens.py" "$coll/plugins/modules/"
cp -rL "$src/roles/jitsi_meet_tokens" "$coll/roles/"
rm -rf "$coll/roles/jitsi_meet_tokens/library" # the module is in plugins/modules here
cp "$src/README.md" "$coll/README.md"
cat >"$coll/galaxy.yml" <<'YAML'
namespace: jitsi
name: meet_tokens
version: 1.0.0
readme: README.md
authors: [jitsi-meet-tokens contributors]
license: [Apache-2.0]
YAML
echo 'requires_ansible: ">=2.14"' >"$coll/meta/runtime.yml"
# The project (and so the module) is Apache-2.0, not GPLv3 like ansible-core's own.
ver="$(python3 -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')"
echo "plugins/modules/jitsi_meet_tokens.py validate-modules:missing-gplv3-license" \
    >"$coll/tests/sanity/ignore-$ver.txt"

# ansible-test bootstraps pip in its venvs with a get-pip script it downloads from a
# host outside PyPI (unreachable here) unless it is cached; cache a stand-in that uses
# Python's bundled pip (ensurepip) instead.
cache="$HOME/.ansible/test/cache"
pipver="$(python3 -c 'import inspect, re, ansible_test._internal.python_requirements as p
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(p.get_venv_packages)).group(1))' 2>/dev/null || true)"
if [ -n "$pipver" ] && [ ! -f "$cache/get_pip_${pipver//./_}.py" ]; then
    mkdir -p "$cache"
    cat >"$cache/get_pip_${pipver//./_}.py" <<'PY'
# Offline stand-in for the get-pip bootstrap: install the bundled pip, then let it
# install the requested pip version from PyPI.
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

cd "$coll"
git init -q . && git add -A # ansible-test lists a collection's files through git
exec ansible-test sanity --local --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --requirements "$@"
