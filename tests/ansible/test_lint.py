"""Static checks of contrib/ansible: ansible-lint (production profile) on the role and
playbook, and the module's DOCUMENTATION against its argument_spec (the part of
ansible-test's validate-modules that matters most; tests/ansible/sanity.sh runs the
full ansible-test sanity)."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "contrib" / "ansible"
MODULE = ANSIBLE_DIR / "library" / "jitsi_meet_tokens.py"


def load_module():
    spec = importlib.util.spec_from_file_location("jitsi_meet_tokens_module", MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ansible_lint_production_profile_is_clean(tmp_path):
    if shutil.which("ansible-lint") is None:
        pytest.fail("ansible-lint not found: pip install -r tests/requirements.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "home"), NO_COLOR="1")
    proc = subprocess.run(
        ["ansible-lint", "--offline", "--profile", "production", "--nocolor", "."],
        cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failure(s), 0 warning(s)" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_documentation_matches_argument_spec():
    mod = load_module()
    doc = yaml.safe_load(mod.DOCUMENTATION)
    yaml.safe_load(mod.EXAMPLES)
    yaml.safe_load(mod.RETURN)
    spec = mod.argument_spec()
    assert set(doc["options"]) == set(spec)
    for name, arg in spec.items():
        opt = doc["options"][name]
        assert opt["type"] == arg["type"], name
        assert opt.get("choices") == arg.get("choices"), name
        assert opt.get("default") == arg.get("default"), name
        assert bool(opt.get("required")) == bool(arg.get("required")), name
        assert opt.get("elements") == arg.get("elements"), name
    assert spec["app_secret"]["no_log"] is True


def test_role_library_is_the_module():
    linked = ANSIBLE_DIR / "roles" / "jitsi_meet_tokens" / "library" / "jitsi_meet_tokens.py"
    assert linked.resolve() == MODULE.resolve()
