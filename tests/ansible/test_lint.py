"""Static checks of the collection in contrib/ansible: ansible-lint (production
profile) on it, ansible-doc on the built and installed artefact, and the parts of the
collection that must agree with each other (the module's DOCUMENTATION and argument
spec, the role's argument spec and defaults, the names and the version).
tests/ansible/sanity.sh runs the full ansible-test sanity."""

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import built_collection

REPO = Path(__file__).resolve().parents[2]
SOURCE = built_collection.SOURCE
MODULE = SOURCE / "plugins" / "modules" / "jitsi_meet_tokens.py"
ROLE = SOURCE / "roles" / "jitsi_meet_tokens"


def load_module():
    spec = importlib.util.spec_from_file_location("jitsi_meet_tokens_module", MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_yaml(path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    if shutil.which("ansible-galaxy") is None:
        pytest.fail("ansible-galaxy not found: pip install -r tests/requirements.txt")
    return built_collection.install(tmp_path_factory.mktemp("collection"))


def test_ansible_lint_production_profile_is_clean(tmp_path, collections):
    if shutil.which("ansible-lint") is None:
        pytest.fail("ansible-lint not found: pip install -r tests/requirements.txt")
    env = built_collection.clean_env(tmp_path / "home")
    # The fully-qualified names resolve to the installed artefact.
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections))
    proc = subprocess.run(
        ["ansible-lint", "--offline", "--profile", "production", "--nocolor", "."],
        cwd=SOURCE, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failure(s), 0 warning(s)" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind, name", [("module", built_collection.MODULE),
                                        ("role", built_collection.ROLE)])
def test_installed_artefact_documents_module_and_role(tmp_path, collections, kind, name):
    env = built_collection.clean_env(tmp_path / "home")
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections))
    proc = subprocess.run(["ansible-doc", "-t", kind, "--json", name], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)[name]
    if kind == "module":
        assert doc["doc"]["collection"] == built_collection.NAME
        assert set(doc["doc"]["attributes"]) == {"check_mode", "diff_mode", "platform"}
        assert doc["doc"]["seealso"]
        assert "contains" in doc["return"]["diff"] and "contains" in doc["return"]["installer"]
    else:
        assert set(doc["entry_points"]["main"]["options"]) == set(load_yaml(ROLE / "defaults/main.yml"))


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


def test_role_argument_spec_covers_the_defaults_and_agrees_with_the_module():
    options = load_yaml(ROLE / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load_yaml(ROLE / "defaults/main.yml")
    assert set(options) == set(defaults)
    module_spec = load_module().argument_spec()
    for var, opt in options.items():
        # The defaults are defined once, in defaults/main.yml.
        assert "default" not in opt, var
        # A variable passed to the module has the module option's type.
        option = var.removeprefix("jitsi_meet_tokens_")
        if option in module_spec:
            assert opt["type"] == module_spec[option]["type"] or (
                opt["type"] == "str" and module_spec[option]["type"] == "path"), var
            assert opt.get("elements") == module_spec[option].get("elements"), var
    assert options["jitsi_meet_tokens_app_secret"]["no_log"] is True


def test_one_copy_of_the_module_and_one_name_everywhere():
    modules = [p for p in REPO.glob("contrib/**/*.py")]
    assert modules == [MODULE], modules
    galaxy = load_yaml(SOURCE / "galaxy.yml")
    cargo = (REPO / "Cargo.toml").read_text()
    assert galaxy["version"] == re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    # Every module or role reference in the collection is fully qualified.
    tasks = load_yaml(ROLE / "tasks/main.yml")
    assert built_collection.MODULE in tasks[-1]
    playbook = load_yaml(SOURCE / "playbooks/token_auth.yml")
    assert playbook[0]["roles"] == [{"role": built_collection.ROLE}]
    for text in (SOURCE / "README.md", ROLE / "README.md", MODULE):
        for line in text.read_text().splitlines():
            # A bare name after "module"/"role"/a task key would be a loose module.
            assert not re.search(r"(^|\s)jitsi_meet_tokens:\s*$", line), (text, line)
