"""README's commands work on copy-paste (issue 12, item 7): every line of its ```sh
blocks is run by a named test (or by CI's script), the package it installs is named as
scripts/build-deb names it, and the scripts it names exist.

RUNS maps each README line to the places that run it: `path::name` (a test, then the
helpers it calls, whose source must contain the fragments: the command and its flags)
or a script path (the whole file). Tests add only sandbox flags (--root, --no-restart,
--native-module, --output json) to README's command. A README line missing from RUNS,
or a place that no longer runs it, fails here."""

import ast
import fnmatch
import os
import re
import subprocess
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()

PLAIN = "tests/deb/test_package.py::test_plain_prosody_install_reinstall_reconfigure_remove_purge"
HOST_FROM_ROOT = "tests/suite/token.rs::host_settings_from_root"
CONFIGURE_ARGS = ("tests/suite/mod.rs::configure_args",
                  ['"configure"', '"--domain"', '"--app-id"', '"--app-secret-file"'])

RUNS = {
    "scripts/demo": [
        ("tests/test_careful_readme.py::test_the_quick_start_demo", ['"scripts/demo"']),
    ],
    'echo "jitsi-meet-tokens jitsi-meet-tokens/appid string myapp" | debconf-set-selections': [
        (PLAIN, ["preseed(", "{PKG} {PKG}/appid string {app_id}"]),
        ("tests/deb/test_package.py::preseed", ['"debconf-set-selections"']),
    ],
    'echo "jitsi-meet-tokens jitsi-meet-tokens/appsecret password s3cret" | debconf-set-selections': [
        (PLAIN, ["preseed(", "{PKG} {PKG}/appsecret password {secret}"]),
        ("tests/deb/test_package.py::preseed", ['"debconf-set-selections"']),
    ],
    'echo "jitsi-meet-tokens jitsi-meet-tokens/guest-access boolean true" | debconf-set-selections': [
        ("tests/deb/test_package.py::test_guest_access_configures_prosody_jitsi_meet_and_jicofo_and_remove_restores_them",
         ["preseed(", "{PKG} {PKG}/guest-access boolean true"]),
        ("tests/deb/test_package.py::preseed", ['"debconf-set-selections"']),
    ],
    "DEBIAN_FRONTEND=noninteractive apt-get install ./jitsi-meet-tokens_*_amd64.deb": [
        (PLAIN, ["apt_install(deb)"]),
        ("tests/deb/test_package.py::apt_install", ['run("apt-get", "install"']),
        ("tests/deb/test_package.py::APT_ENV", ['DEBIAN_FRONTEND="noninteractive"']),
    ],
    "jitsi-meet-tokens configure --domain meet.example.com --app-id myapp --app-secret-file /root/secret": [
        ("tests/suite/configure.rs::second_run_changes_nothing_and_keeps_every_mtime",
         ['.configure("meet.example.com"']),
        CONFIGURE_ARGS,
    ],
    "jitsi-meet-tokens configure --domain meet.example.com --app-id myapp --app-secret-file /root/secret --dry-run": [
        ("tests/suite/configure.rs::jitsi_host_diff_is_exactly_the_intended_lines",
         ['.configure("meet.example.com"', '"--dry-run"']),
        CONFIGURE_ARGS,
    ],
    "jitsi-meet-tokens configure --domain meet.example.com --app-id myapp --app-secret-file /root/secret --output json": [
        ("tests/suite/configure.rs::second_run_changes_nothing_and_keeps_every_mtime",
         ['.configure("meet.example.com"', "json(&"]),
        ("tests/suite/mod.rs::configure_args", ["self.unattended()"]),
        ("tests/suite/mod.rs::unattended", ['"--output"', '"json"']),
        CONFIGURE_ARGS,
    ],
    "jitsi-meet-tokens unconfigure --domain meet.example.com": [
        ("tests/suite/unconfigure.rs::jitsi_round_trip_is_byte_identical", ['round_trip("jitsi", "meet.example.com")']),
        ("tests/suite/unconfigure.rs::round_trip", [".unconfigure(domain)"]),
        ("tests/suite/mod.rs::unconfigure", ['"unconfigure"', '"--domain"']),
    ],
    "jitsi-meet-tokens status --live": [
        ("tests/e2e/test_status_live.py::test_status_live_login", ["status(root, prosody)"]),
        ("tests/e2e/test_status_live.py::status", ["status_for("]),
        ("tests/e2e/test_status_live.py::status_for", ['"status"', '"--live"']),
    ],
    'TOKEN=$(jitsi-meet-tokens token mint --domain meet.example.com --room lobby --name "Ada" --ttl 1h)': [
        (HOST_FROM_ROOT, ['mint(&["--root", root_s, "--domain", "meet.test"']),
        ("tests/suite/token.rs::hs256_round_trip_and_pyjwt_interop", ['"--room"', '"--name"', '"--ttl"']),
        ("tests/suite/token.rs::expired_token_reports_seconds", ['"--ttl",\n        "1h"']),
        ("tests/suite/token.rs::mint", ['["token", "mint"]']),
    ],
    'jitsi-meet-tokens token verify --domain meet.example.com "$TOKEN"': [
        (HOST_FROM_ROOT, ["verify_json(", '"--domain"']),
        ("tests/suite/token.rs::verify_json", ['["token", "verify"']),
    ],
    "scripts/test": [
        (".ci/run", ["exec scripts/test"]),
        ("scripts/prove-fresh", ["scripts/test --no-system"]),
    ],
}


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    lines = [line.strip() for b in blocks for line in b.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("#")]
    # A trailing comment explains the line; it is not part of the command.
    return [re.sub(r"\s+#\s.*$", "", line) for line in lines]


def source_of(place: str) -> str:
    """The source text of `path::name` (a Python function or assignment, a Rust fn),
    or of the whole file for a bare path."""
    path, _, name = place.partition("::")
    text = (REPO / path).read_text()
    if not name:
        return text
    if path.endswith(".py"):
        for node in ast.parse(text).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else [
                t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            if name in names:
                return ast.get_source_segment(text, node)
        raise AssertionError(f"{place}: no such function or assignment")
    # Rust: the fn from its signature to the brace that closes its body (test sources
    # keep braces balanced outside strings, which is all this needs).
    m = re.search(rf"^\s*(?:pub )?fn {re.escape(name)}\b[^{{;]*\{{", text, re.M)
    assert m, f"{place}: no such fn"
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[m.start():i]


def is_test(place: str) -> bool:
    path, _, name = place.partition("::")
    if not name:
        return path in (".ci/run", "scripts/prove-fresh")
    if path.endswith(".py"):
        return name.startswith("test_")
    return re.search(rf"#\[test\]\s*fn {re.escape(name)}\b", (REPO / path).read_text()) is not None


def test_every_readme_command_is_run_by_a_named_test():
    lines = shell_lines()
    assert sorted(set(lines)) == sorted(RUNS), (
        "README's sh lines and RUNS differ; "
        f"not run by any test: {sorted(set(lines) - set(RUNS))}, no longer in README: {sorted(set(RUNS) - set(lines))}")
    for line, places in RUNS.items():
        assert is_test(places[0][0]), f"{line!r}: {places[0][0]} is not a test"
        for place, fragments in places:
            src = source_of(place)
            for fragment in fragments:
                assert fragment in src, f"{line!r}: {place} no longer has {fragment!r}"


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


def test_the_quick_start_demo():
    """README's quick start, as is: one login accepted, one refused with its reason."""
    assert os.geteuid() == 0, "scripts/demo runs as root (it installs what is missing)"
    p = subprocess.run(["scripts/demo"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    accepted, refused = re.search(
        r"configured secret:\n\s+(.*)\n==> login with a token signed by another secret:\n\s+(.*)\n", p.stdout).groups()
    assert re.fullmatch(r"<success [^>]*/>", accepted), p.stdout
    assert refused == ("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-allowed/>"
                       "<text>Invalid signature</text></failure>"), p.stdout
    assert "signature" in p.stdout.split("installer's own verifier", 1)[1], p.stdout
