"""The Ansible collection as users get it: contrib/ansible built into its artefact
with `ansible-galaxy collection build` and installed from that file into a private
collections path with `ansible-galaxy collection install -p`."""

import os
import subprocess
from pathlib import Path

import yaml

SOURCE = Path(__file__).resolve().parents[2] / "contrib" / "ansible"
GALAXY = yaml.safe_load((SOURCE / "galaxy.yml").read_text())
NAME = f"{GALAXY['namespace']}.{GALAXY['name']}"
MODULE = f"{NAME}.jitsi_meet_tokens"
ROLE = f"{NAME}.jitsi_meet_tokens"
PLAYBOOK = f"{NAME}.token_auth"


def clean_env(home: Path) -> dict:
    """This process's environment without Ansible settings or the installer's
    variables, with Ansible's state under `home`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "JITSI_MEET_TOKENS_"))}
    env.update(ANSIBLE_HOME=str(home), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    return env


def build(out: Path) -> Path:
    """The artefact built from contrib/ansible into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(out), str(SOURCE)],
        env=clean_env(out / "home"), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    artefact = out / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert artefact.is_file(), proc.stdout
    return artefact


def install(base: Path) -> Path:
    """Build the artefact and install it under `base`; returns the collections path
    (for ANSIBLE_COLLECTIONS_PATH)."""
    artefact = build(base / "build")
    path = base / "collections"
    proc = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", "-p", str(path), str(artefact)],
        env=clean_env(base / "home"), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    assert (installed / "MANIFEST.json").is_file(), proc.stdout
    return path
