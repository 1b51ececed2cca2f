"""The source package builds the .deb on its own, with the network cut.

scripts/build-deb --source-only makes the .dsc (crates vendored into the tarball);
the test unpacks it into a fresh directory with dpkg-source -x, builds it there
with dpkg-buildpackage inside `unshare -n` (a network namespace with only a downed
loopback), and runs lintian on the source and the binary packages: no error and no
warning. Nothing is installed, so it needs no lock; it needs root for unshare -n and
takes minutes (a cold release build), so it runs only when asked
(JITSI_MEET_TOKENS_PACKAGE_TESTS=1), like the package tests.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = "jitsi-meet-tokens"


sys.path.insert(0, str(Path(__file__).resolve().parent))
from asked import only_when_asked, require  # noqa: E402

pytestmark = only_when_asked("build the source package (minutes of compiling)")


@pytest.fixture(autouse=True, scope="module")
def _requirements():
    require(("dpkg-source", "dpkg-buildpackage", "lintian", "unshare", "cargo"), "unshare -n")


def run(*args, cwd=None, timeout=3600, env=None):
    p = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert p.returncode == 0, f"{args} exited {p.returncode}\n--- stdout\n{p.stdout[-4000:]}\n--- stderr\n{p.stderr[-4000:]}"
    return p


@pytest.fixture(scope="module")
def dsc(tmp_path_factory):
    out = tmp_path_factory.mktemp("source")
    dsc = Path(run(str(REPO / "scripts" / "build-deb"), "--source-only", str(out)).stdout.split()[-1])
    assert dsc.suffix == ".dsc" and dsc.parent == out, dsc
    return dsc


def test_source_package_carries_the_vendored_crates(dsc):
    (tarball,) = dsc.parent.glob(f"{PKG}_*.tar.*")
    with tarfile.open(tarball) as t:
        names = t.getnames()
        top = names[0].split("/")[0]
        config = t.extractfile(f"{top}/.cargo/config.toml").read().decode()
    assert 'replace-with = "vendored-sources"' in config and 'directory = "vendor"' in config, config
    vendored = {n.split("/")[2] for n in names if n.startswith(f"{top}/vendor/") and n.count("/") >= 2}
    lock = (REPO / "Cargo.lock").read_text()
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"\nsource = "registry', lock):
        assert f"{name}-{version}" in vendored, f"{name} {version} not vendored"
    # Generated for the source package only, never committed.
    assert run("git", "-C", str(REPO), "ls-files", "vendor", ".cargo").stdout == ""


def test_unpacked_source_builds_offline_and_is_lintian_clean(dsc, tmp_path):
    fresh = tmp_path / "unpacked"
    run("dpkg-source", "-x", str(dsc), str(fresh))
    # No network in the namespace: only a loopback that is down.
    probe = subprocess.run(
        ["unshare", "-n", "--", "python3", "-c",
         "import socket; socket.create_connection(('151.101.0.204', 443), 5)"],
        capture_output=True, text=True)
    assert probe.returncode != 0, "unshare -n left the network reachable"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO_", "JITSI_MEET_TOKENS_"))}
    # A rustup toolchain is no Debian package: the profile drops the Rust build deps.
    cargo = os.path.realpath(shutil.which("cargo"))
    from_debian = subprocess.run(["dpkg", "-S", cargo], capture_output=True).returncode == 0
    profile = [] if from_debian else ["-Ppkg.jitsi-meet-tokens.rustup"]
    run("nice", "-n", "10", "unshare", "-n", "--", "dpkg-buildpackage", *profile, "-b", "-us", "-uc",
        cwd=fresh, env=env)

    (deb,) = [d for d in tmp_path.glob(f"{PKG}_*.deb") if "dbgsym" not in d.name]
    files = run("dpkg-deb", "--contents", str(deb)).stdout
    for page in ("jitsi-meet-tokens", "jitsi-meet-tokens-configure", "jitsi-meet-tokens-unconfigure",
                 "jitsi-meet-tokens-status", "jitsi-meet-tokens-token-mint", "jitsi-meet-tokens-token-verify"):
        assert f"./usr/share/man/man1/{page}.1.gz" in files, page
    assert f"./usr/share/doc/{PKG}/README.Debian" in files

    (changes,) = tmp_path.glob(f"{PKG}_*.changes")
    p = subprocess.run(["lintian", "--display-info", "--pedantic", str(dsc), str(changes)],
                       capture_output=True, text=True, timeout=1800)
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    print("\n".join(tags))
    bad = [t for t in tags if t.startswith(("E: ", "W: "))]
    assert not bad, "\n".join(bad) + p.stderr
