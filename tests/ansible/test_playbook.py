"""The collection's playbook (jitsi_meet_tokens.jitsi.token_auth), its role and module,
run by their fully-qualified names from the collection built and installed into a
temporary collections path, against this machine's real Prosody, on localhost with
connection local.

Everything happens in a scratch root that carries its own complete layout: Debian's
/etc/prosody copied in, with a VirtualHost for the domain as it was before tokens
(password logins, BOSH), and a config whose pidfile, data and log are inside the root,
on private loopback ports, and the Prosody program in the root's /usr/bin. The role
installs a built tree (installer, native module, plugins) into the scratch root with
its `files` method, then its module runs `jitsi-meet-tokens configure --root
<scratch>`, which starts that Prosody as the prosody user. A wrapper in front of the
installer logs every call. Tokens are minted with PyJWT and used for a real BOSH
login.

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
from pathlib import Path

import jwt
import pytest

REPO = Path(__file__).resolve().parents[2]
# The e2e suite's scratch root (Debian's /etc/prosody under a temp dir, private ports,
# pidfile and data) and BOSH client.
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import PLUGINS, Bosh, native_module  # noqa: E402
from test_installer_support import DOMAIN, ScratchRoot  # noqa: E402

import built_collection  # noqa: E402

RELEASE = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release"
# A "$" that a careless shell or variable expansion would eat.
APP_ID = "ansible-app$USER"
# Characters a naive sed/shell path would mangle, plus non-ASCII.
SECRET_1 = "s3cr3t/with&quote\"and\\back$HOME]]\u00e9"
SECRET_2 = "second-secret-Zq9'%~-long-enough-for-HS256"
SECRET_3 = "third-secret-not-yet-live-after-no-restart-0123"

# The SASL failure (condition, text) for a token signed with another secret.
BAD_SIGNATURE = ("not-allowed", "Invalid signature")

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


# The domain as a server had it before token authentication.
HOST_BEFORE_TOKENS = f"""-- {DOMAIN}: password logins and BOSH for the web client
VirtualHost "{DOMAIN}"
    authentication = "internal_hashed"
    c2s_require_encryption = false
    modules_enabled = {{
        "bosh";
    }}
"""


class Scratch:
    """The e2e scratch root, without the package, made self-contained, plus the built
    tree that the role's `files` method copies in (installer, lua5.4/jitsi_tokens.so,
    plugins)."""

    def __init__(self, collections):
        self.collections = collections
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
        self._make_root_self_contained()
        src = self.tmp / "build"
        (src / "lua5.4").mkdir(parents=True)
        shutil.copy2(binary, src / "jitsi-meet-tokens")
        shutil.copy2(native_module(), src / "lua5.4" / "jitsi_tokens.so")
        shutil.copytree(PLUGINS, src / "prosody-plugins")
        self.files_src = src
        self.files_dest = self.root / "opt" / "jitsi-meet-tokens"
        self.ansible_cfg = self.tmp / "ansible.cfg"
        self.ansible_cfg.write_text("[defaults]\n")
        self.wrapper = None

    def _make_root_self_contained(self):
        """Under --root the installer may use only what is inside the root: the e2e
        root keeps pidfile, data and log in its /run but links the host's Prosody
        program, so put a copy of the program in the root's /usr/bin. And give the
        domain the VirtualHost it had before tokens."""
        assert self.sr.run_dir.is_relative_to(self.root), self.sr.run_dir
        program = self.root / "usr/bin/prosody"
        program.unlink()
        shutil.copy2(shutil.which("prosody"), program)
        etc = self.root / "etc/prosody"
        (etc / "conf.avail" / f"{DOMAIN}.cfg.lua").write_text(HOST_BEFORE_TOKENS)
        os.symlink(f"../conf.avail/{DOMAIN}.cfg.lua", etc / "conf.d" / f"{DOMAIN}.cfg.lua")

    def count_calls(self):
        """Put a wrapper in front of the installer the role copies in, logging each
        call's arguments (the secret is never among them)."""
        self.calls_log = self.tmp / "installer-calls.log"
        self.wrapper = self.tmp / "wrapper" / "jitsi-meet-tokens"
        self.wrapper.parent.mkdir()
        self.wrapper.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$*\" >>'{self.calls_log}'\n"
            f"exec '{self.files_dest / 'jitsi-meet-tokens'}' \"$@\"\n"
        )
        self.wrapper.chmod(0o755)
        self.calls_seen = 0

    def new_calls(self):
        """The installer calls logged since the last look, each as its argument string."""
        calls = self.calls_log.read_text().splitlines() if self.calls_log.exists() else []
        new, self.calls_seen = calls[self.calls_seen:], len(calls)
        return new

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
        """"success", or the SASL failure's (condition, text); a network error raises."""
        # Prosody routes HTTP by Host; BOSH is enabled on the domain's VirtualHost.
        result, jid = Bosh(self.sr, DOMAIN, token(secret), headers={"Host": DOMAIN}).login()
        assert not result.ok or jid, "login succeeded but bind gave no JID"
        return "success" if result.ok else (result.condition, result.text)

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
        # Only the collection installed from its artefact, not one from this machine.
        ANSIBLE_COLLECTIONS_PATH=str(scratch.collections),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
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
    if scratch.wrapper:
        v["jitsi_meet_tokens_binary"] = str(scratch.wrapper)
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
        built_collection.PLAYBOOK, "-e", f"@{vars_file}", *extra_args,
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
def collections(tmp_path_factory):
    if shutil.which("ansible-playbook") is None:
        pytest.fail("ansible-playbook not found: pip install -r tests/requirements.txt")
    return built_collection.install(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def deployed(collections):
    scratch = Scratch(collections)
    scratch.count_calls()
    try:
        scratch.before_first = scratch.snapshot()
        scratch.first = play(scratch)
        yield scratch
    finally:
        scratch.cleanup()


def one_call(scratch, subcommand, dry_run):
    """The play ran the installer exactly once, with that subcommand, dry or real."""
    calls = scratch.new_calls()
    assert len(calls) == 1, calls
    args = calls[0].split()
    assert args[0] == subcommand and ("--dry-run" in args) == dry_run, calls


def test_first_run_installs_configures_and_token_login_works(deployed):
    run = deployed.first
    assert run.rc == 0, str(run)
    assert run.recap and run.recap["failed"] == 0, str(run)
    # The copy of the built tree and the configure step both changed something.
    assert run.recap["changed"] >= 2, str(run)
    assert (deployed.files_dest / "jitsi-meet-tokens").is_file()
    one_call(deployed, "configure", dry_run=False)
    host = deployed.host_file().read_text()
    assert 'authentication = "token"' in host
    assert SECRET_1 not in run.out + run.err, "the secret leaked into Ansible's output"
    assert deployed.prosody_pid(), "the installer did not start Prosody\n" + deployed.log_tail()
    assert deployed.login(SECRET_1) == "success", deployed.log_tail()
    assert deployed.login("not-the-secret-but-as-long-as-a-real-one") == BAD_SIGNATURE


def test_second_run_changes_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed)
    assert run.rc == 0, str(run)
    assert run.recap == {"ok": run.recap["ok"], "changed": 0, "unreachable": 0, "failed": 0}, str(run)
    one_call(deployed, "configure", dry_run=False)
    assert deployed.snapshot() == before, "a file was rewritten on an unchanged run"
    assert deployed.prosody_pid() == pid, "Prosody was restarted on an unchanged run"


def masked_secret_diff(out):
    """The installer's unified diff of the secret line, masked on both sides."""
    return (re.search(r'^-\s*app_secret = "\*+"', out, re.M)
            and re.search(r'^\+\s*app_secret = "\*+"', out, re.M)
            and f"{DOMAIN}.cfg.lua" in out)


def test_check_diff_with_new_secret_shows_masked_diff_and_touches_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, ["--check", "--diff"], jitsi_meet_tokens_app_secret=SECRET_2)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=True)
    assert masked_secret_diff(run.out), str(run)
    for secret in (SECRET_1, SECRET_2):
        assert secret not in run.out + run.err
    assert deployed.snapshot() == before, "check mode changed a file"
    assert deployed.prosody_pid() == pid, "check mode restarted Prosody"
    assert deployed.login(SECRET_1) == "success"


def test_diff_without_check_runs_the_installer_once_and_shows_that_runs_diff(deployed):
    host_before = deployed.host_file().read_text()
    before = deployed.snapshot()
    run = play(deployed, ["--diff"], jitsi_meet_tokens_app_secret=SECRET_2)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    # One real run, no dry run before it; its own report carries the diff.
    one_call(deployed, "configure", dry_run=False)
    assert masked_secret_diff(run.out), str(run)
    for secret in (SECRET_1, SECRET_2):
        assert secret not in run.out + run.err
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
    assert deployed.login(SECRET_1) == BAD_SIGNATURE


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(jitsi_meet_tokens_signature_algorithm="HS257"),
         "value of signature_algorithm must be one of"),
        (dict(jitsi_meet_tokens_app_id=""),
         "state is present but all of the following are missing: app_id"),
        (dict(jitsi_meet_tokens_install_method="pip"),
         "value of jitsi_meet_tokens_install_method must be one of: apt, deb, files, none"),
    ],
    ids=["unknown-algorithm", "missing-app-id", "unknown-install-method"],
)
def test_bad_variable_fails_with_module_message_and_touches_nothing(deployed, over, message):
    before = deployed.snapshot()
    pid = deployed.prosody_pid()
    run = play(deployed, **over)
    assert run.rc != 0, str(run)
    assert run.recap["failed"] == 1, str(run)
    assert message in run.out, str(run)
    assert "jitsi_meet_tokens" in run.out
    assert deployed.new_calls() == []
    assert deployed.snapshot() == before
    assert deployed.prosody_pid() == pid


def test_restart_false_passes_no_restart_and_shows_the_installers_warning(deployed):
    pid = deployed.prosody_pid()
    run = play(deployed, jitsi_meet_tokens_app_secret=SECRET_3, jitsi_meet_tokens_restart=False)
    assert run.rc == 0, str(run)
    assert run.recap["changed"] == 1 and run.recap["failed"] == 0, str(run)
    one_call(deployed, "configure", dry_run=False)
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
    one_call(deployed, "unconfigure", dry_run=False)
    assert re.search(r"^-\s*app_secret = \"\*+\"", run.out, re.M), str(run)
    assert SECRET_3 not in run.out + run.err

    def prosody_files(snap):
        return {p: digest for p, (digest, _) in snap.items() if p.startswith("etc/prosody/")}

    assert prosody_files(deployed.snapshot()) == prosody_files(deployed.before_first)
    assert deployed.host_file().read_text() == HOST_BEFORE_TOKENS
    # The installer restarted Prosody with the host as it was: password logins only,
    # so the token login is refused by SASL (a network error fails the test).
    assert deployed.prosody_pid(), "Prosody is not running after unconfigure\n" + deployed.log_tail()
    assert deployed.login(SECRET_3) == ("invalid-mechanism", None), deployed.log_tail()

    again = play(deployed, jitsi_meet_tokens_state="absent")
    assert again.rc == 0, str(again)
    assert again.recap["changed"] == 0, str(again)
    one_call(deployed, "unconfigure", dry_run=False)


def test_check_mode_on_a_host_without_the_package_warns_and_writes_nothing(collections):
    scratch = Scratch(collections)
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
