"""The jitsi-meet-tokens .deb on this machine's real Prosody.

Builds the package with scripts/build-deb (or takes JITSI_MEET_TOKENS_DEB, a built
.deb), lints it, then installs, reinstalls, reconfigures, removes and purges it with
apt/dpkg/debconf while a real Prosody started from /etc/prosody runs as the prosody
user, and logs in over BOSH with tokens minted by PyJWT.

It changes the machine, so it runs only when asked (JITSI_MEET_TOKENS_PACKAGE_TESTS=1),
as root, where Debian's prosody package is installed and jitsi-meet-tokens is not. Every test puts the machine back
as found: purges the package and the debconf answers it set, restores /etc/prosody
from a tar backup, and stops by PID each Prosody process it started (or that the
package's scripts restarted).
"""

import contextlib
import difflib
import fcntl
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
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import Bosh  # noqa: E402  (the e2e suite's BOSH client)

REPO = Path(__file__).resolve().parents[2]
PKG = "jitsi-meet-tokens"
DOMAIN = "meet.test"
ETC = Path("/etc/prosody")
MAIN_CFG = ETC / "prosody.cfg.lua"
HOST_CFG = ETC / "conf.avail" / f"{DOMAIN}.cfg.lua"
PIDFILE = Path("/run/prosody/prosody.pid")
STATE_DIRS = [Path("/var/lib/jitsi-meet-tokens"), Path("/etc/jitsi-meet-tokens")]
# Every character the old package's sed-based postinst broke on.
NASTY_SECRET = "s3cr/et\\with\"quotes'&amp`tick` $(id) ]]"

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
# The package's scripts restart Prosody through invoke-rc.d, which asks policy-rc.d.
# Tests allow prosody (and nothing else: apt must not start other services) and
# put back whatever policy the machine had.
ALLOW_PROSODY = '#!/bin/sh\n# jitsi-meet-tokens package tests\n[ "$1" = prosody ] && exit 0\nexit 101\n'
DENY_ALL = "#!/bin/sh\n# jitsi-meet-tokens package tests\nexit 101\n"

APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", DEBCONF_NONINTERACTIVE_SEEN="true")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from asked import only_when_asked, require  # noqa: E402

pytestmark = only_when_asked("build and test the .deb (installs it on this machine)")


@pytest.fixture(autouse=True, scope="module")
def _requirements():
    require(("dpkg-buildpackage", "apt-get", "debconf-set-selections", "setpriv", "lintian"),
            "installs a package and restarts Prosody",
            lambda: None if Path("/usr/bin/prosody").exists() else "Debian's prosody package is not installed")


def run(*args, check=True, input=None, timeout=300, env=None):
    """Runs a command; on failure the assertion shows its whole output."""
    p = subprocess.run(
        list(args), input=input, capture_output=True, text=True, timeout=timeout, env=env or APT_ENV
    )
    if check:
        assert p.returncode == 0, f"{args} exited {p.returncode}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
    return p


# ---------------------------------------------------------------- the package


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    given = os.environ.get("JITSI_MEET_TOKENS_DEB")
    if given:
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("deb")
    run(str(REPO / "scripts" / "build-deb"), str(out), timeout=3600, env=dict(os.environ))
    debs = [d for d in out.glob(f"{PKG}_*.deb") if "dbgsym" not in d.name]
    assert len(debs) == 1, debs
    return debs[0]


def test_lintian_reports_no_errors(deb):
    p = run("lintian", "--fail-on", "error", "--display-info", "--pedantic", str(deb), check=False)
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    print("\n".join(tags))
    assert p.returncode == 0 and not [t for t in tags if t.startswith("E: ")], p.stdout + p.stderr


def test_version_sorts_above_jitsis_former_package(deb):
    """Jitsi's jitsi-meet-tokens was 1.0.x: apt must never take it for an upgrade."""
    version = run("dpkg-deb", "-f", str(deb), "Version").stdout.strip()
    for former in ("1.0.8043-1", "1.0.9999999-1", "2.0.10590-1"):
        assert run("dpkg", "--compare-versions", version, "gt", former, check=False).returncode == 0, \
            f"{version} does not sort above {former}"


def test_package_ships_binary_plugins_modules_docs(deb):
    files = run("dpkg-deb", "--contents", str(deb)).stdout
    arch = run("dpkg-architecture", "-qDEB_HOST_MULTIARCH").stdout.strip()
    for path in (
        "./usr/bin/jitsi-meet-tokens",
        "./usr/share/jitsi-meet-tokens/prosody-plugins/mod_auth_token.lua",
        "./usr/share/jitsi-meet-tokens/prosody-plugins/mod_token_verification.lua",
        "./usr/share/jitsi-meet-tokens/prosody-plugins/mod_presence_identity.lua",
        f"./usr/lib/{arch}/lua/5.4/jitsi_tokens.so",
        f"./usr/lib/{arch}/lua/5.2/jitsi_tokens.so",
        "./usr/share/man/man1/jitsi-meet-tokens.1.gz",
        "./usr/share/bash-completion/completions/jitsi-meet-tokens",
        "./usr/share/zsh/vendor-completions/_jitsi-meet-tokens",
        "./usr/share/fish/vendor_completions.d/jitsi-meet-tokens.fish",
    ):
        assert re.search(r"\s" + re.escape(path) + r"$", files, re.M), f"{path} missing from the .deb"
    depends = run("dpkg-deb", "--field", str(deb), "Depends").stdout
    assert "prosody (>= 0.11.6) |" in depends and "debconf" in depends, depends
    ctrl = run("dpkg-deb", "--info", str(deb)).stdout
    for member in ("config", "templates", "postinst", "prerm", "postrm"):
        assert re.search(rf"\b{member}\b", ctrl), f"control member {member} missing"


# ------------------------------------------------------------ machine fixture


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(root=ETC, mtimes=False):
    """Every entry under root: kind, mode, owner, content or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            if p.is_symlink():
                entry = ("link", os.readlink(p))
            elif p.is_dir():
                entry = ("dir", st.st_mode, st.st_uid, st.st_gid)
            else:
                entry = ("file", st.st_mode, st.st_uid, st.st_gid, p.read_bytes())
                if mtimes:
                    entry += (st.st_mtime_ns,)
            out[str(p)] = entry
    return out


def prosody_pids():
    """PIDs of processes running /usr/bin/prosody (any config)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (d / "cmdline").read_bytes().split(b"\0")
                if any(c.endswith(b"/prosody") or c == b"prosody" for c in cmd[:3]):
                    pids.append(int(d.name))
    return pids


def pid_alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_pid(pid, child=None):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline and pid_alive(pid):
        if child is not None:
            child.poll()
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)


def pidfile_pid():
    with contextlib.suppress(OSError, ValueError):
        pid = int(PIDFILE.read_text().strip())
        if pid_alive(pid):
            return pid
    return None


def debconf_answers():
    return run("debconf-get-selections", env=dict(os.environ)).stdout


def debconf_purge(owner):
    run("debconf-communicate", owner, input="PURGE\n", check=False)


class Machine:
    """This machine's Prosody, started from a test-adjusted /etc/prosody."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.http = free_port()
        self.c2s = free_port()
        self.s2s = free_port()
        self.seen_pids = set()
        self.child = None
        # A log of its own, in a directory the prosody user can write.
        self.logdir = Path(tempfile.mkdtemp(prefix="jmt-deb-log-"))
        shutil.chown(self.logdir, "prosody", "prosody")
        self.log = self.logdir / "prosody.log"

    def adjust_config(self):
        # Global options ahead of everything: loopback only, free ports, BOSH over
        # plain HTTP. Debian's file sets none of these further down.
        block = (
            "-- jitsi-meet-tokens package test (restored afterwards)\n"
            'interfaces = { "127.0.0.1" }\n'
            f"c2s_ports = {{ {self.c2s} }}\n"
            f"s2s_ports = {{ {self.s2s} }}\n"
            f"http_ports = {{ {self.http} }}\n"
            'http_interfaces = { "127.0.0.1" }\n'
            "https_ports = { }\n"
            "consider_bosh_secure = true\n"
            "prosodyctl_service_warnings = false\n\n"
        )
        text = MAIN_CFG.read_text()
        debian_log = 'info = "/var/log/prosody/prosody.log";'
        assert debian_log in text, "Debian's log line not found in prosody.cfg.lua"
        text = text.replace(debian_log, f'info = "{self.log}";')
        MAIN_CFG.write_text(block + text)

    def start(self):
        self.child = subprocess.Popen(
            ["setpriv", "--reuid=prosody", "--regid=prosody", "--init-groups", "--", "prosody", "-F"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.seen_pids.add(self.child.pid)
        self.wait_up(lambda pid: pid == self.child.pid)
        return self.child.pid

    def wait_up(self, accept, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid = pidfile_pid()
            if pid and accept(pid):
                self.seen_pids.add(pid)
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.c2s), 0.5):
                    return pid
            if self.child is not None:
                self.child.poll()  # reap ours once the package's scripts stop it
            time.sleep(0.1)
        raise AssertionError(f"Prosody did not come up (pidfile {PIDFILE}: {pidfile_pid()})")

    def pid(self):
        pid = pidfile_pid()
        if pid:
            self.seen_pids.add(pid)
        return pid

    def read_log(self, since=0):
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def log_size(self):
        return self.log.stat().st_size if self.log.exists() else 0

    def stop_all(self):
        for pid in set(self.seen_pids) | set(filter(None, [pidfile_pid()])):
            if pid_alive(pid) and pid in prosody_pids():
                stop_pid(pid, self.child if self.child and self.child.pid == pid else None)
        if self.child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.child.wait(5)
        if self.log.exists():  # kept with pytest's temp files for a post-mortem
            shutil.copy(self.log, self.tmp / "prosody.log")
        shutil.rmtree(self.logdir, ignore_errors=True)


@contextlib.contextmanager
def policy_rc_d(script):
    saved = POLICY_RC_D.read_bytes() if POLICY_RC_D.exists() else None
    mode = POLICY_RC_D.stat().st_mode & 0o7777 if saved is not None else None
    POLICY_RC_D.write_text(script)
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        if saved is None:
            POLICY_RC_D.unlink(missing_ok=True)
        else:
            POLICY_RC_D.write_bytes(saved)
            POLICY_RC_D.chmod(mode)


@pytest.fixture(scope="session")
def machine_lock():
    # One package test at a time on this machine (they share /etc/prosody and dpkg).
    with open("/run/lock/jitsi-meet-tokens-package-tests.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture
def machine(tmp_path, machine_lock):
    status = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG, check=False).stdout
    if status.strip() not in ("", "un"):
        pytest.fail(f"{PKG} is already on this machine ({status!r}); refusing to touch it")
    if pidfile_pid():
        pytest.fail(f"a Prosody is already running from {PIDFILE}; refusing to touch it")
    for d in STATE_DIRS:
        assert not d.exists(), f"{d} exists before the test"

    backup = tmp_path / "etc-prosody.tar"
    run("tar", "--numeric-owner", "-cpf", str(backup), "-C", str(ETC.parent), ETC.name)
    run_dir_created = not PIDFILE.parent.exists()
    if run_dir_created:
        PIDFILE.parent.mkdir(mode=0o755)
        shutil.chown(PIDFILE.parent, "prosody", "adm")

    m = Machine(tmp_path)
    policy = policy_rc_d(ALLOW_PROSODY)
    policy.__enter__()
    try:
        m.adjust_config()
        m.start()
        yield m
    finally:
        policy.__exit__(None, None, None)
        try:
            if run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG, check=False).stdout.strip() not in ("", "un"):
                run("dpkg", "--purge", PKG, check=False)
        finally:
            debconf_purge(PKG)
            debconf_purge("jitsi-meet-prosody")
            m.stop_all()
            shutil.rmtree(ETC)
            run("tar", "--numeric-owner", "-xpf", str(backup), "-C", str(ETC.parent))
            for d in STATE_DIRS:
                shutil.rmtree(d, ignore_errors=True)
            if run_dir_created:
                shutil.rmtree(PIDFILE.parent, ignore_errors=True)


# ------------------------------------------------------------- BOSH and tokens


def mint(app_id, secret, sub=DOMAIN):
    import jwt

    now = int(time.time())
    claims = {"iss": app_id, "aud": "jitsi", "sub": sub, "room": "*", "iat": now, "nbf": now - 5, "exp": now + 600}
    return jwt.encode(claims, secret.encode(), algorithm="HS256", headers={"typ": "JWT"})


def bosh_login(port, token, domain=DOMAIN):
    """(True, JID), or (False, refusal) for a login over BOSH with the e2e client: the
    SASL failure's "condition: text", NO_HTTP when nothing listens on Prosody's HTTP
    port (no host loads BOSH; callers expecting it have checked that Prosody runs), or
    NO_BOSH_HOST when Prosody answers 404 for the host name.
    Anything else (a timeout, an HTTP error, a reset) raises, and a test expecting a
    SASL refusal fails on NO_HTTP: a broken Prosody is not a refused login."""
    server = SimpleNamespace(bosh_url=f"http://127.0.0.1:{port}/http-bind")
    # Prosody picks the HTTP host by the Host header, as behind Jitsi's nginx.
    client = Bosh(server, domain, token, headers={"Host": domain})
    try:
        result, jid = client.login()
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        return False, NO_BOSH_HOST
    except urllib.error.URLError as e:
        if not isinstance(e.reason, ConnectionRefusedError):
            raise
        return False, NO_HTTP
    if not result.ok:
        return False, f"{result.condition}: {result.text}"
    return True, jid


NO_HTTP = "connection refused: Prosody serves no HTTP"
# Prosody serves HTTP, but no host by that name loads BOSH (a guest host removed).
NO_BOSH_HOST = "HTTP 404: no BOSH for this host"
TOKEN_REQUIRED = "not-allowed: token required"
BAD_SIGNATURE = "not-allowed: Invalid signature"
# Jitsi's host file back as it was names Jitsi's own "jitsi-anonymous" provider, which
# this machine does not have: Prosody offers no SASL mechanism for the host at all.
JITSI_AFTER_REMOVE = "invalid-mechanism: None"


# ------------------------------------------------------------ Prosody's view

ORACLE = r"""
package.path = "/usr/lib/prosody/?.lua;" .. package.path
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local cm = require "core.configmanager"
local json = require "util.json"
local ok, level, err = cm.load(arg[1])
if not ok then io.stderr:write(tostring(level), ": ", tostring(err), "\n"); os.exit(1) end
local out = {}
for i = 2, #arg, 2 do
  local v = cm.get(arg[i], arg[i + 1])
  out[arg[i] .. " " .. arg[i + 1]] = v == nil and json.null or v
end
print(json.encode(out))
"""


def prosody_sees(machine, *host_keys):
    """Options as Prosody's own config loader reads them from /etc/prosody."""
    script = machine.tmp / "oracle.lua"
    script.write_text(ORACLE)
    args = [a for hk in host_keys for a in hk]
    return json.loads(run("lua5.4", str(script), str(MAIN_CFG), *args, env=dict(os.environ)).stdout)


# ------------------------------------------------------------ package actions


def preseed(*lines):
    run("debconf-set-selections", input="".join(line + "\n" for line in lines), env=dict(os.environ))


def apt_install(deb, *extra):
    return run("apt-get", "install", "-y", "--no-install-recommends", *extra, str(deb))


def assert_restarted(machine, old_pid):
    new = machine.wait_up(lambda pid: pid != old_pid)
    assert new != old_pid and not pid_alive(old_pid), f"Prosody was not restarted (PID {old_pid} -> {new})"
    return new


def assert_no_module_errors(machine, since):
    """No module failed to load since the log had `since` bytes."""
    log = machine.read_log(since)
    assert "Activated service 'c2s'" in log, "no Prosody start in the test's log file"
    bad = [line for line in log.splitlines() if "Error initializing module" in line]
    assert not bad, "\n".join(bad)


def assert_purged():
    status = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG, check=False).stdout.strip()
    assert status in ("", "un"), status
    for d in STATE_DIRS:
        assert not d.exists(), f"{d} left after purge"
    left = [line for line in debconf_answers().splitlines() if "jitsi-meet-tokens/" in line]
    assert not left, left


# ------------------------------------------------------------------- tests


def test_plain_prosody_install_reinstall_reconfigure_remove_purge(deb, machine):
    """No Jitsi Meet: the domain is asked (preseeded); the installer writes the host."""
    before = snapshot()
    pid0 = machine.pid()
    app_id, secret = "plainapp", "first-secret-0123456789"
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert (ok, answer) == (False, NO_HTTP), "token login worked before the package was installed"

    log_mark = machine.log_size()
    preseed(
        f"{PKG} {PKG}/domain string {DOMAIN}",
        f"{PKG} {PKG}/appid string {app_id}",
        f"{PKG} {PKG}/appsecret password {secret}",
    )
    apt_install(deb)
    pid1 = assert_restarted(machine, pid0)
    assert HOST_CFG.exists() and snapshot() != before, "the host config was not written"
    seen = prosody_sees(machine, (DOMAIN, "authentication"), (DOMAIN, "app_id"), (DOMAIN, "app_secret"))
    assert seen == {f"{DOMAIN} authentication": "token", f"{DOMAIN} app_id": app_id, f"{DOMAIN} app_secret": secret}
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert ok, answer
    ok, answer = bosh_login(machine.http, None)
    assert (ok, answer) == (False, TOKEN_REQUIRED), "a login without a token was accepted"
    assert_no_module_errors(machine, log_mark)
    # The secret is in the host file now, not in debconf's database.
    assert secret not in debconf_answers()

    # Reinstalling changes nothing: same bytes, same mtimes, same Prosody.
    installed = snapshot(mtimes=True)
    apt_install(deb, "--reinstall")
    assert snapshot(mtimes=True) == installed
    assert machine.pid() == pid1

    # dpkg-reconfigure with a new secret: the new token works, the old one fails.
    preseed(f"{PKG} {PKG}/appsecret password {NASTY_SECRET}")
    run("dpkg-reconfigure", "-fnoninteractive", PKG)
    pid2 = assert_restarted(machine, pid1)
    ok, answer = bosh_login(machine.http, mint(app_id, NASTY_SECRET))
    assert ok, answer
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert (ok, answer) == (False, BAD_SIGNATURE), answer
    assert NASTY_SECRET not in debconf_answers()

    # Remove: the configuration is back to its pre-install text, tokens stop working.
    run("apt-get", "remove", "-y", PKG)
    assert_restarted(machine, pid2)
    assert snapshot() == before
    ok, answer = bosh_login(machine.http, mint(app_id, NASTY_SECRET))
    assert (ok, answer) == (False, NO_HTTP), "token login still works after remove"

    run("apt-get", "purge", "-y", PKG)
    assert_purged()


JITSI_HOST = """\
-- Written by the jitsi-meet-tokens package test in the shape of the host file
-- jitsi-meet-prosody generates, with the marker lines the old package edited.
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }

VirtualHost "meet.test"
    authentication = "jitsi-anonymous" -- do not delete me
    -- Properties below are modified by jitsi-meet-tokens package config
    -- and authentication above is switched to "token"
    --app_id="example_app_id"
    --app_secret="example_app_secret"
    -- we need bosh
    modules_enabled = {
        "bosh";
        "ping"; -- Enable mod_ping
    }
    c2s_require_encryption = false

Component "conference.meet.test" "muc"
    restrict_room_creation = true
    modules_enabled = {
        "ping";
        --"token_verification";
    }
    admins = { "focus@auth.meet.test" }
"""


def test_jitsi_host_markers_and_a_secret_with_shell_characters(deb, machine):
    """jitsi-meet-prosody's host file: domain from its debconf answer, markers edited."""
    HOST_CFG.write_text(JITSI_HOST)
    os.chmod(HOST_CFG, 0o644)
    (ETC / "conf.d" / f"{DOMAIN}.cfg.lua").symlink_to(f"../conf.avail/{DOMAIN}.cfg.lua")
    pid0 = machine.wait_up(lambda pid: True)
    before = snapshot()
    lines_before = JITSI_HOST.splitlines()

    app_id = "jitsiapp"
    log_mark = machine.log_size()
    preseed(
        f"jitsi-meet-prosody jitsi-meet-prosody/jvb-hostname string {DOMAIN}",
        f"{PKG} {PKG}/appid string {app_id}",
        f"{PKG} {PKG}/appsecret password {NASTY_SECRET}",
    )
    apt_install(deb)
    assert_restarted(machine, pid0)
    # Only jitsi-meet-prosody's answer named the domain: nothing else was asked.
    assert not (ETC / "conf.avail" / ".cfg.lua").exists()

    lines = HOST_CFG.read_text().splitlines()
    text = "\n".join(lines)
    # As the old package left them: the markers edited in place, comments kept.
    auth = lines_before.index('    authentication = "jitsi-anonymous" -- do not delete me')
    assert re.fullmatch(r'\s*authentication\s*=\s*"token"\s*-- do not delete me', lines[auth]), lines[auth]
    assert '--app_id="example_app_id"' not in text and '--app_secret="example_app_secret"' not in text
    app_id_line = lines_before.index('    --app_id="example_app_id"')
    assert re.match(r"\s*app_id\s*=", lines[app_id_line]), lines[app_id_line]
    assert re.match(r"\s*app_secret\s*=", lines[app_id_line + 1]), lines[app_id_line + 1]
    assert '--"token_verification";' not in text
    assert re.search(r'^\s*"token_verification";', text, re.M), text
    assert "-- we need bosh" in text and '"ping"; -- Enable mod_ping' in text

    seen = prosody_sees(
        machine,
        (DOMAIN, "authentication"),
        (DOMAIN, "app_id"),
        (DOMAIN, "app_secret"),
        (f"conference.{DOMAIN}", "modules_enabled"),
        ("*", "plugin_paths"),
    )
    assert seen[f"{DOMAIN} authentication"] == "token"
    assert seen[f"{DOMAIN} app_id"] == app_id
    assert seen[f"{DOMAIN} app_secret"] == NASTY_SECRET, "the secret did not survive byte for byte"
    assert "token_verification" in seen[f"conference.{DOMAIN} modules_enabled"]
    paths = [p.rstrip("/") for p in seen["* plugin_paths"]]
    assert "/usr/share/jitsi-meet-tokens/prosody-plugins" in paths, paths
    ours = paths.index("/usr/share/jitsi-meet-tokens/prosody-plugins")
    assert ours < paths.index("/usr/share/jitsi-meet/prosody-plugins"), paths

    ok, answer = bosh_login(machine.http, mint(app_id, NASTY_SECRET))
    assert ok, answer
    ok, answer = bosh_login(machine.http, mint(app_id, NASTY_SECRET + "x"))
    assert (ok, answer) == (False, BAD_SIGNATURE), answer
    assert_no_module_errors(machine, log_mark)

    pid1 = machine.pid()
    run("apt-get", "remove", "-y", PKG)
    assert_restarted(machine, pid1)
    assert snapshot() == before, "remove did not restore the Jitsi host file byte for byte"
    ok, answer = bosh_login(machine.http, mint(app_id, NASTY_SECRET))
    assert (ok, answer) == (False, JITSI_AFTER_REMOVE), "token login still works after remove"

    run("apt-get", "purge", "-y", PKG)
    assert_purged()


def test_without_answers_the_package_installs_and_changes_nothing(deb, machine):
    """No application ID preseeded: installed, Prosody untouched, told what to do."""
    before = snapshot(mtimes=True)
    pid0 = machine.pid()
    preseed(f"{PKG} {PKG}/domain string {DOMAIN}")
    out = apt_install(deb)
    assert "no application ID" in out.stdout + out.stderr
    assert "dpkg-reconfigure jitsi-meet-tokens" in out.stdout + out.stderr
    status = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG).stdout.strip()
    assert status == "ii", status
    assert snapshot(mtimes=True) == before
    assert machine.pid() == pid0
    run("apt-get", "purge", "-y", PKG)
    assert snapshot(mtimes=True) == before
    assert_purged()


def test_a_policy_that_forbids_restarts_is_obeyed(deb, machine):
    """policy-rc.d says no (an image build, a chroot): the host file is written,
    Prosody is left running as it was, and the installer says why."""
    before = snapshot()
    pid0 = machine.pid()
    app_id, secret = "policyapp", "a-secret-for-the-policy-test-0123"
    preseed(
        f"{PKG} {PKG}/domain string {DOMAIN}",
        f"{PKG} {PKG}/appid string {app_id}",
        f"{PKG} {PKG}/appsecret password {secret}",
    )
    with policy_rc_d(DENY_ALL):
        out = apt_install(deb)
        assert "policy-rc.d" in out.stdout + out.stderr
        assert machine.pid() == pid0 and pid_alive(pid0)
        seen = prosody_sees(machine, (DOMAIN, "authentication"), (DOMAIN, "app_id"))
        assert seen == {f"{DOMAIN} authentication": "token", f"{DOMAIN} app_id": app_id}
        # The running Prosody still has the old configuration.
        ok, answer = bosh_login(machine.http, mint(app_id, secret))
        assert (ok, answer) == (False, NO_HTTP), "the new configuration was live without a restart"
        run("apt-get", "purge", "-y", PKG)
        assert machine.pid() == pid0
    assert snapshot() == before
    assert_purged()


def test_reconfigure_to_a_domain_the_server_does_not_have_is_refused(deb, machine):
    # A domain that is none of the server's hosts is most likely a typo (issue 12):
    # debconf's answer gets the installer's own rule, nothing moves, and the
    # administrator is told the hosts found and how to ask for a new one.
    before = snapshot()
    other = "other.test"
    app_id, secret = "moveapp", "a-secret-that-stays-with-its-domain"
    preseed(
        f"{PKG} {PKG}/domain string {DOMAIN}",
        f"{PKG} {PKG}/appid string {app_id}",
        f"{PKG} {PKG}/appsecret password {secret}",
    )
    apt_install(deb)
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert ok, answer

    pid1 = machine.pid()
    preseed(f"{PKG} {PKG}/domain string {other}", f"{PKG} {PKG}/appsecret password {secret}")
    out = run("dpkg-reconfigure", "-fnoninteractive", PKG)
    assert f"{other!r}".replace("'", '"') + f" is not one of this server's hosts ({DOMAIN})" in out.stderr, out.stderr
    assert "--new-host" in out.stderr, out.stderr
    assert machine.pid() == pid1
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert ok, answer

    run("apt-get", "purge", "-y", PKG)
    assert snapshot() == before
    assert_purged()


GUEST = f"guest.{DOMAIN}"
JITSI_ETC = Path("/etc/jitsi")
WEB_CONFIG = JITSI_ETC / "meet" / f"{DOMAIN}-config.js"
JICOFO_CONF = JITSI_ETC / "jicofo" / "jicofo.conf"
WEB_FIXTURE = REPO / "tests" / "fixtures" / "jitsi-web" / "etc" / "jitsi"


@pytest.fixture
def jitsi_web(machine_lock):
    """Jitsi Meet's config.js and Jicofo's jicofo.conf for DOMAIN, in the shapes their
    maintainer scripts write (the jitsi-web fixtures, written for meet.example.com),
    removed again afterwards. Requested before `machine`, so the package is purged
    before they go."""
    if JITSI_ETC.exists():
        pytest.fail(f"{JITSI_ETC} exists on this machine; refusing to touch it")
    try:
        for src, dest in ((WEB_FIXTURE / "meet" / "meet.example.com-config.js", WEB_CONFIG),
                          (WEB_FIXTURE / "jicofo" / "jicofo.conf", JICOFO_CONF)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(src.read_text().replace("meet.example.com", DOMAIN))
        yield
    finally:
        shutil.rmtree(JITSI_ETC, ignore_errors=True)


def test_guest_access_configures_prosody_jitsi_meet_and_jicofo_and_remove_restores_them(
        deb, jitsi_web, machine):
    """jitsi-meet-tokens/guest-access preseeded: the guest VirtualHost, config.js's
    hosts.anonymousdomain and Jicofo's token authentication, from one install;
    answering no removes them, remove restores all three files byte for byte."""
    HOST_CFG.write_text(JITSI_HOST)
    os.chmod(HOST_CFG, 0o644)
    (ETC / "conf.d" / f"{DOMAIN}.cfg.lua").symlink_to(f"../conf.avail/{DOMAIN}.cfg.lua")
    pid0 = machine.wait_up(lambda pid: True)
    before = snapshot(), snapshot(JITSI_ETC)
    web_before, jicofo_before = WEB_CONFIG.read_bytes(), JICOFO_CONF.read_bytes()
    ok, answer = bosh_login(machine.http, None, domain=GUEST)
    assert not ok, "a guest logged in before the package was installed"

    app_id, secret = "guestapp", "a-secret-for-the-guest-test-0123456789"
    log_mark = machine.log_size()
    preseed(
        f"jitsi-meet-prosody jitsi-meet-prosody/jvb-hostname string {DOMAIN}",
        f"{PKG} {PKG}/appid string {app_id}",
        f"{PKG} {PKG}/appsecret password {secret}",
        f"{PKG} {PKG}/guest-access boolean true",
    )
    apt_install(deb)
    pid1 = assert_restarted(machine, pid0)

    # Prosody's own loader sees the guest VirtualHost; a guest logs in there over
    # BOSH, token users still log in on the main host and tokenless logins do not.
    seen = prosody_sees(machine, (GUEST, "authentication"), (DOMAIN, "authentication"))
    assert seen[f"{DOMAIN} authentication"] == "token", seen
    assert seen[f"{GUEST} authentication"] in ("anonymous", "jitsi-anonymous"), seen
    ok, jid = bosh_login(machine.http, None, domain=GUEST)
    assert ok and jid.split("@", 1)[1].startswith(GUEST + "/"), jid
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert ok, answer
    ok, answer = bosh_login(machine.http, None)
    assert not ok, "a login without a token was accepted on the token host"
    assert_no_module_errors(machine, log_mark)

    web = WEB_CONFIG.read_text()
    assert re.search(rf"^\s*anonymousdomain: '{re.escape(GUEST)}',$", web, re.M), web
    assert "// anonymousdomain: 'guest.example.com'," not in web
    assert web.replace(f"anonymousdomain: '{GUEST}',", "// anonymousdomain: 'guest.example.com',") \
        == web_before.decode(), "config.js changed beyond hosts.anonymousdomain"
    jicofo = JICOFO_CONF.read_text()
    assert re.search(r"authentication\s*\{[^}]*enabled = true[^}]*type = JWT[^}]*"
                     rf'login-url = "{re.escape(DOMAIN)}"', jicofo, re.S), jicofo
    # Jicofo's settings are added to, none of its lines changed.
    ops = difflib.SequenceMatcher(None, jicofo_before.decode().splitlines(), jicofo.splitlines()).get_opcodes()
    assert {op for op, *_ in ops} <= {"equal", "insert"}, jicofo

    # Guest access off again: the two Jitsi files are back byte for byte, the guest
    # host is gone, token authentication stays.
    preseed(f"{PKG} {PKG}/guest-access boolean false")
    run("dpkg-reconfigure", "-fnoninteractive", PKG)
    pid2 = assert_restarted(machine, pid1)
    assert (WEB_CONFIG.read_bytes(), JICOFO_CONF.read_bytes()) == (web_before, jicofo_before)
    assert not (ETC / "conf.avail" / f"{GUEST}.cfg.lua").exists(), "the guest host file was left"
    ok, answer = bosh_login(machine.http, None, domain=GUEST)
    assert (ok, answer) == (False, NO_BOSH_HOST), "a guest still logs in with guest access off"
    ok, answer = bosh_login(machine.http, mint(app_id, secret))
    assert ok, answer

    # On again, then removed: every file as before the install.
    preseed(f"{PKG} {PKG}/guest-access boolean true")
    run("dpkg-reconfigure", "-fnoninteractive", PKG)
    pid3 = assert_restarted(machine, pid2)
    assert WEB_CONFIG.read_bytes() != web_before
    run("apt-get", "remove", "-y", PKG)
    assert_restarted(machine, pid3)
    assert (snapshot(), snapshot(JITSI_ETC)) == before, "remove did not restore every file byte for byte"
    ok, answer = bosh_login(machine.http, None, domain=GUEST)
    assert not ok, "a guest still logs in after remove"

    run("apt-get", "purge", "-y", PKG)
    assert_purged()
