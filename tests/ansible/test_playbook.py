"""The example playbook (contrib/ansible/playbook.yml) and the jitsi_meet_tokens module
against this machine's real Prosody, on localhost with connection local.

Everything happens in a scratch root: /etc/prosody is copied into a temp dir whose
config points ports, pidfile, data and logs into that dir. The role installs a built
tree (installer, native module, plugins) into the scratch root with its `files`
method, then its module runs `jitsi-meet-tokens configure --root <scratch>`, which
starts that Prosody as the prosody user. Tokens are minted with PyJWT and used for a
real BOSH login.

The tests run in file order on one deployment (module-scoped fixture): first run,
idempotent second run, check+diff with a new secret, real run with the new secret,
then bad variables.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

import jwt
import pytest

REPO = Path(__file__).resolve().parents[2]
# The e2e suite's scratch root (Debian's /etc/prosody under a temp dir, private ports,
# pidfile and data) and BOSH client.
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import PLUGINS, Bosh, native_module  # noqa: E402
from test_installer_support import DOMAIN, ScratchRoot  # noqa: E402

ANSIBLE_DIR = REPO / "contrib" / "ansible"
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release"
# A "$" that a careless shell or variable expansion would eat.
APP_ID = "ansible-app$USER"
# Characters a naive sed/shell path would mangle, plus non-ASCII.
SECRET_1 = "s3cr3t/with&quote\"and\\back$HOME]]\u00e9"
SECRET_2 = "second-secret-Zq9'%~-long-enough-for-HS256"
SECRET_3 = "third-secret-not-yet-live-after-no-restart-0123"

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


class Scratch:
    """The e2e scratch root, without the package, plus the built tree that the role's
    `files` method copies in (installer, lua5.4/jitsi_tokens.so, plugins)."""

    def __init__(self):
        binary = RELEASE / "jitsi-meet-tokens"
        if not binary.is_file():
            pytest.fail(f"{binary} is missing: run cargo build --release first")
        # Our own parent dir: other suites may sweep leftover /tmp/jmt-installer-* dirs.
        self.parent = Path(tempfile.mkdtemp(prefix="jmt-ansible-"))
        self.parent.chmod(0o755)  # the prosody user must reach the root inside
        saved, tempfile.tempdir = tempfile.tempdir, str(self.parent)
        try:
            self.sr = ScratchRoot()
        finally:
            tempfile.tempdir = saved
        self.root = self.sr.root
        self.tmp = self.sr.base
        src = self.tmp / "build"
        (src / "lua5.4").mkdir(parents=True)
        shutil.copy2(binary, src / "jitsi-meet-tokens")
        shutil.copy2(native_module(), src / "lua5.4" / "jitsi_tokens.so")
        shutil.copytree(PLUGINS, src / "prosody-plugins")
        self.files_src = src
        self.files_dest = self.root / "opt" / "jitsi-meet-tokens"
        self.ansible_cfg = self.tmp / "ansible.cfg"
        self.ansible_cfg.write_text("[defaults]\n")

    def snapshot(self):
        """Path -> (sha256, mtime_ns) of every file the role or installer may write."""
        snap = {}
        for top in ("etc", "opt", "usr", "var/lib/jitsi-meet-tokens"):
            base = self.root / top
            for p in sorted(base.rglob("*")) if base.exists() else ():
                if p.is_file() and not p.is_symlink():
                    snap[str(p.relative_to(self.root))] = (
                        hashlib.sha256(p.read_bytes()).hexdigest(),
                        p.stat().st_mtime_ns,
                    )
        return snap

    def host_file(self):
        return self.root / "etc/prosody/conf.avail" / f"{DOMAIN}.cfg.lua"

    def prosody_pid(self):
        return self.sr.pid()

    def login(self, secret):
        # Prosody routes HTTP by Host; BOSH is enabled on the domain's VirtualHost.
        result, jid = Bosh(self.sr, DOMAIN, token(secret), headers={"Host": DOMAIN}).login()
        assert not result.ok or jid, "login succeeded but bind gave no JID"
        return "success" if result.ok else result.text

    def log_tail(self):
        return self.sr.log_text()[-3000:]

    def cleanup(self):
        self.sr.cleanup()
        shutil.rmtree(self.parent, ignore_errors=True)


# --- ansible ---------------------------------------------------------------------------


def ansible_env(scratch):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("ANSIBLE_", "JITSI_MEET_TOKENS_")):
            del env[k]
    env.update(
        ANSIBLE_LIBRARY=str(ANSIBLE_DIR / "library"),
        ANSIBLE_ROLES_PATH=str(ANSIBLE_DIR / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_GATHERING="explicit",  # the role needs no facts; saves a second a run
        ANSIBLE_LOCAL_TEMP=str(scratch.tmp / "ansible-local"),
        ANSIBLE_REMOTE_TMP=str(scratch.tmp / "ansible-remote"),
        ANSIBLE_HOME=str(scratch.tmp / "ansible-home"),
        ANSIBLE_CONFIG=str(scratch.ansible_cfg),  # no stray ansible.cfg from cwd or $HOME
    )
    return env


def write_inventory(scratch):
    inv = scratch.tmp / "inventory.ini"
    inv.write_text(
        "[jitsi]\n"
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return inv


def role_vars(scratch, **over):
    v = dict(
        ansible_become=False,  # the play says become: true; the tests already run as root
        jitsi_meet_tokens_install_method="files",
        jitsi_meet_tokens_files_src=str(scratch.files_src),
        jitsi_meet_tokens_files_dest=str(scratch.files_dest),
        jitsi_meet_tokens_root=str(scratch.root),
        jitsi_meet_tokens_domain=DOMAIN,
        jitsi_meet_tokens_app_id=APP_ID,
        jitsi_meet_tokens_app_secret=SECRET_1,
    )
    v.update(over)
    return v


class Run:
    def __init__(self, proc, cmd):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.cmd = cmd
        recaps = [m.groupdict() for m in RECAP.finditer(self.out)]
        self.recap = {k: int(v) for k, v in recaps[-1].items() if k != "host"} if recaps else None

    def __str__(self):
        return f"$ {' '.join(self.cmd)}\nexit {self.rc}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def play(scratch, extra_args=(), **over):
    vars_file = scratch.tmp / "vars.json"
    vars_file.write_text(json.dumps(role_vars(scratch, **over)))
    cmd = [
        "ansible-playbook", "-i", str(write_inventory(scratch)),
        str(ANSIBLE_DIR / "playbook.yml"), "-e", f"@{vars_file}", *extra_args,
    ]
    proc = subprocess.run(cmd, env=ansible_env(scratch), cwd=scratch.tmp,
                          capture_output=True, text=True, timeout=300)
    vars_file.unlink()  # it holds the secret
    return Run(proc, cmd)


# --- tokens ---------------------------------------------------------------------------


def token(secret):
    """An HS256 token for any room on the domain, as a Jitsi token issuer makes it."""
    now = int(time.time())
    claims = {"iss": APP_ID, "aud": "jitsi", "sub": DOMAIN, "room": "*",
              "iat": now, "exp": now + 600}
    return jwt.encode(claims, secret.encode(), algorithm="HS256")


# --- tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed():
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-playbook not found: pip install -r tests/requirements.txt")
    scratch = Scratch()
    try:
        scratch.before_first = scratch.snapshot()
        scratch.first = play(scratch)
        yield scratch
    finally:
        scratch.cleanup()


def test_first_run_installs_configures_and_token_login_works(deployed):
    run = deployed.first
    assert run.rc == 0, str(run)
    assert run.recap and run.recap["failed"] == 0, str(run)
    # The copy of the built tree and the configure step both changed something.
    assert run.recap["changed"] >= 2, str(run)
    assert (deployed.files_dest / "jitsi-meet-tokens").is_file()
    host = deployed.host_file().read_text()
    assert 'authentication = "token"' in host
    assert SECRET_1 not in run.out + run.err, "the secret leaked into Ansible's output"
    assert deployed.prosody_pid(), "the installer did not start Prosody\n" + deployed.log_tail()
    assert deployed.login(SECRET_1) == "success", deployed.log_tail()
    assert deployed.login("not-the-secret-but-as-long-as-a-real-one") == "Invalid signature"


def test_second_run_changes_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed)
    assert run.rc == 0, str(run)
    assert run.recap == {"ok": run.recap["ok"], "changed": 0, "unreachable": 0, "failed": 0}, str(run)
    assert deployed.snapshot() == before, "a file was rewritten on an unchanged run"
    assert deployed.prosody_pid() == pid, "Prosody was restarted on an unchanged run"


def test_check_diff_with_new_secret_shows_masked_diff_and_touches_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, ["--check", "--diff"], jitsi_meet_tokens_app_secret=SECRET_2)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    # The installer's unified diff, with the secret line masked on both sides.
    assert re.search(r'^-\s*app_secret = "\*+"', run.out, re.M), str(run)
    assert re.search(r'^\+\s*app_secret = "\*+"', run.out, re.M), str(run)
    assert f"{DOMAIN}.cfg.lua" in run.out
    for secret in (SECRET_1, SECRET_2):
        assert secret not in run.out + run.err
    assert deployed.snapshot() == before, "check mode changed a file"
    assert deployed.prosody_pid() == pid, "check mode restarted Prosody"
    assert deployed.login(SECRET_1) == "success"


def test_new_secret_changes_exactly_that_and_old_token_stops_working(deployed):
    host_before = deployed.host_file().read_text()
    before = deployed.snapshot()
    run = play(deployed, jitsi_meet_tokens_app_secret=SECRET_2)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    host_after = deployed.host_file().read_text()
    changed_lines = [
        (a, b) for a, b in zip(host_before.splitlines(), host_after.splitlines()) if a != b
    ]
    assert len(host_before.splitlines()) == len(host_after.splitlines())
    assert len(changed_lines) == 1 and "app_secret" in changed_lines[0][1], changed_lines
    after = deployed.snapshot()
    changed_files = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    host_rel = str(deployed.host_file().relative_to(deployed.root))
    # Besides the host file only the installer's own state (records, backups) may change.
    assert host_rel in changed_files
    assert {p for p in changed_files if not p.startswith("var/lib/jitsi-meet-tokens/")} == {host_rel}
    assert deployed.login(SECRET_2) == "success", deployed.log_tail()
    assert deployed.login(SECRET_1) == "Invalid signature"


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(jitsi_meet_tokens_signature_algorithm="HS257"),
         "value of signature_algorithm must be one of"),
        (dict(jitsi_meet_tokens_app_id=""),
         "state is present but all of the following are missing: app_id"),
    ],
    ids=["unknown-algorithm", "missing-app-id"],
)
def test_bad_variable_fails_with_module_message_and_touches_nothing(deployed, over, message):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, **over)
    assert run.rc != 0, str(run)
    assert run.recap["failed"] == 1, str(run)
    assert message in run.out, str(run)
    assert "jitsi_meet_tokens" in run.out
    assert deployed.snapshot() == before
    assert deployed.prosody_pid() == pid


def test_restart_false_passes_no_restart_and_shows_the_installers_warning(deployed):
    pid = deployed.prosody_pid()
    run = play(deployed, jitsi_meet_tokens_app_secret=SECRET_3, jitsi_meet_tokens_restart=False)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    # The installer's own warning, passed on as an Ansible warning.
    assert re.search(r"\[WARNING\]: Prosody was not restarted", run.out + run.err), str(run)
    assert deployed.prosody_pid() == pid, "restart: false restarted Prosody"
    assert SECRET_3 in deployed.host_file().read_text()
    # The running Prosody still has the previous secret.
    assert deployed.login(SECRET_2) == "success"


def test_absent_reverts_to_the_pre_install_files_and_is_idempotent(deployed):
    run = play(deployed, ["--diff"], jitsi_meet_tokens_state="absent")
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    assert re.search(r"^-\s*app_secret = \"\*+\"", run.out, re.M), str(run)
    assert SECRET_3 not in run.out + run.err

    def prosody_files(snap):
        return {p: digest for p, (digest, _) in snap.items() if p.startswith("etc/prosody/")}

    assert prosody_files(deployed.snapshot()) == prosody_files(deployed.before_first)
    assert not (deployed.root / "etc/prosody/conf.d" / f"{DOMAIN}.cfg.lua").exists()
    # The installer restarted Prosody without the host (and so without BOSH, which
    # only that host enabled): no token login any more.
    assert deployed.prosody_pid(), "Prosody is not running after unconfigure\n" + deployed.log_tail()
    try:
        outcome = deployed.login(SECRET_3)
    except urllib.error.URLError as e:
        outcome = str(e)
    assert outcome != "success"

    again = play(deployed, jitsi_meet_tokens_state="absent")
    assert again.rc == 0, str(again)
    assert again.recap["changed"] == 0, str(again)


def test_check_mode_on_a_host_without_the_package_warns_and_writes_nothing():
    scratch = Scratch()
    try:
        before = scratch.snapshot()
        run = play(scratch, ["--check", "--diff"])
        assert run.rc == 0, str(run)
        assert run.recap["failed"] == 0 and run.recap["changed"] == 2, str(run)
        assert re.search(r"\[WARNING\]: the installer \S+ is not on the target", run.out + run.err), str(run)
        assert scratch.snapshot() == before
        assert not scratch.files_dest.exists()
        assert scratch.prosody_pid() is None
    finally:
        scratch.cleanup()
