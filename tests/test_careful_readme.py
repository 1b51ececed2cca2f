"""README's commands work on copy-paste (issue 12, item 7): the package it installs is
named as scripts/build-deb names it, and the scripts it names exist."""

import fnmatch
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip()]


def test_the_install_line_names_the_built_package():
    version = subprocess.run(["dpkg-parsechangelog", "-l", str(REPO / "debian/changelog"), "-S", "Version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # dpkg-deb names the .deb without the epoch.
    built = f"jitsi-meet-tokens_{version.split(':', 1)[-1]}_amd64.deb"
    installs = [line for line in shell_lines() if "apt-get install ./" in line]
    assert installs, "README has an install line"
    for line in installs:
        pattern = re.search(r"\./(\S+\.deb)", line).group(1)
        assert fnmatch.fnmatch(built, pattern), (line, built)


def test_every_script_named_exists():
    for line in shell_lines():
        for script in re.findall(r"(?:^|\s)(scripts/[\w-]+)", line):
            assert (REPO / script).is_file(), line
