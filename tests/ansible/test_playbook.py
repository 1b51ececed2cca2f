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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from xml.sax.saxutils import quoteattr

import jwt
import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "contrib" / "ansible"
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release"
DOMAIN = "meet.test"
# A "$" that a careless shell or variable expansion would eat.
APP_ID = "ansible-app$USER"
# Characters a naive sed/shell path would mangle, plus non-ASCII.
SECRET_1 = "s3cr3t/with&quote\"and\\back$HOME]]é"
SECRET_2 = "second-secret-Zq9'%~"

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.M,
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def chown_prosody(path):
    shutil.chown(path, "prosody", "prosody")


# --- scratch root --------------------------------------------------------------------


class Scratch:
    """A copy of /etc/prosody under a temp root, private ports, and the built tree
    the role's `files` method installs."""

    def __init__(self):
        for what in ("jitsi-meet-tokens", "libjitsi_tokens.so"):
            if not (RELEASE / what).is_file():
                pytest.fail(f"{RELEASE / what} is missing: run cargo build --release first")
        if not Path("/etc/prosody/prosody.cfg.lua").is_file():
            pytest.fail("Prosody is not installed (/etc/prosody/prosody.cfg.lua missing)")
        self.tmp = Path(tempfile.mkdtemp(prefix="jmt-ansible-"))
        self.tmp.chmod(0o755)  # Prosody (user prosody) reads its config and plugins here
        self.root = self.tmp / "root"
        self.http_port = free_port()
        self.c2s_port = free_port()
        self._copy_prosody_config()
        self._stage_build()
        self.files_dest = self.root / "opt" / "jitsi-meet-tokens"

    def _copy_prosody_config(self):
        etc = self.root / "etc" / "prosody"
        shutil.copytree("/etc/prosody", etc, symlinks=True)
        # Enabled hosts are symlinks; absolute ones would point back into the real /etc.
        for link in (etc / "conf.d").iterdir():
            if link.is_symlink() and os.readlink(link).startswith("/"):
                target = os.readlink(link)
                link.unlink()
                link.symlink_to(os.path.relpath(self.root / target.lstrip("/"), link.parent))
        for d in ("run/prosody", "var/lib/prosody", "var/log/prosody"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
            chown_prosody(self.root / d)
        for p in (self.root / "etc", etc, etc / "conf.avail", etc / "conf.d"):
            p.chmod(0o755)
        (etc / "certs").chmod(0o750)
        shutil.chown(etc / "certs", "root", "prosody")
        for d in ("run", "var", "var/lib", "var/log"):
            (self.root / d).chmod(0o755)
        cfg = etc / "prosody.cfg.lua"
        text = cfg.read_text()
        # Global overrides go before the first host section (a plain assignment after
        # `VirtualHost` would belong to that host) and after Debian's own globals.
        m = re.search(r"^(VirtualHost|Component|Include)\b", text, re.M)
        assert m, "no host section or Include in /etc/prosody/prosody.cfg.lua"
        overrides = f"""
-- test overrides (tests/ansible)
pidfile = {lua_str(str(self.root / "run/prosody/prosody.pid"))}
data_path = {lua_str(str(self.root / "var/lib/prosody"))}
log = {{ info = {lua_str(str(self.root / "var/log/prosody/prosody.log"))} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
http_interfaces = {{ "127.0.0.1" }}
http_ports = {{ {self.http_port} }}
https_ports = {{ }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = false
consider_bosh_secure = true
prosodyctl_service_warnings = false
"""
        cfg.write_text(text[: m.start()] + overrides + "\n" + text[m.start():])
        self.config_files = [cfg]

    def _stage_build(self):
        """The controller-side tree the role copies: binary, lua5.4 module, plugins."""
        src = self.tmp / "build"
        (src / "lua5.4").mkdir(parents=True)
        shutil.copy2(RELEASE / "jitsi-meet-tokens", src / "jitsi-meet-tokens")
        shutil.copy2(RELEASE / "libjitsi_tokens.so", src / "lua5.4" / "jitsi_tokens.so")
        shutil.copytree(REPO / "prosody-plugins", src / "prosody-plugins")
        self.files_src = src

    # -- state -----------------------------------------------------------------------

    def snapshot(self):
        """Path -> (sha256, mtime_ns) of every file under the scratch etc/ and opt/."""
        snap = {}
        for top in ("etc", "opt", "usr", "var/lib/jitsi-meet-tokens"):
            base = self.root / top
            if not base.exists():
                continue
            for p in sorted(base.rglob("*")):
                if p.is_file() and not p.is_symlink():
                    st = p.stat()
                    snap[str(p.relative_to(self.root))] = (
                        hashlib.sha256(p.read_bytes()).hexdigest(),
                        st.st_mtime_ns,
                    )
        return snap

    def host_file(self):
        return self.root / "etc/prosody/conf.avail" / f"{DOMAIN}.cfg.lua"

    def prosody_pid(self):
        try:
            pid = int((self.root / "run/prosody/prosody.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def stop_prosody(self):
        pid = self.prosody_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def cleanup(self):
        self.stop_prosody()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self):
        p = self.root / "var/log/prosody/prosody.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else "(no log)"


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
        ANSIBLE_LOCAL_TEMP=str(scratch.tmp / "ansible-local"),
        ANSIBLE_REMOTE_TMP=str(scratch.tmp / "ansible-remote"),
        ANSIBLE_HOME=str(scratch.tmp / "ansible-home"),
        ANSIBLE_CONFIG=os.devnull,  # no stray ansible.cfg from the cwd or $HOME
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


# --- BOSH login --------------------------------------------------------------------


def bosh(port, token, body):
    url = f"http://127.0.0.1:{port}/http-bind?token={token}"
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.read().decode()


def bosh_login(port, token):
    """SASL ANONYMOUS with a token over BOSH: returns 'success' or the failure text."""
    first = bosh(port, token, (
        "<body content='text/xml; charset=utf-8' hold='1' rid='1000' to='%s' ver='1.6' "
        "wait='5' xml:lang='en' xmlns='http://jabber.org/protocol/httpbind' "
        "xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>" % DOMAIN))
    sid = re.search(r"sid=['\"]([^'\"]+)", first)
    assert sid, first
    if "ANONYMOUS" not in first:
        first = bosh(port, token, "<body rid='1001' sid=%s xmlns='http://jabber.org/protocol/httpbind'/>"
                     % quoteattr(sid.group(1)))
    assert "ANONYMOUS" in first, first
    reply = bosh(port, token, (
        "<body rid='1002' sid=%s xmlns='http://jabber.org/protocol/httpbind'>"
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/></body>")
        % quoteattr(sid.group(1)))
    if "<success" in reply:
        return "success"
    text = re.search(r"<text[^>]*>([^<]*)</text>", reply)
    assert "<failure" in reply, reply
    return text.group(1) if text else reply


def token(secret):
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
    assert bosh_login(deployed.http_port, token(SECRET_1)) == "success", deployed.log_tail()
    assert bosh_login(deployed.http_port, token("not-the-secret")) == "Invalid signature"


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
    assert bosh_login(deployed.http_port, token(SECRET_1)) == "success"


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
    assert bosh_login(deployed.http_port, token(SECRET_2)) == "success", deployed.log_tail()
    assert bosh_login(deployed.http_port, token(SECRET_1)) == "Invalid signature"


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
