"""Support for the installer e2e suites (no tests here; named test_installer* so it
stays with the files the installer helper owns).

A scratch root for the installer's end-to-end tests: Debian's own /etc/prosody
copied under a temp dir, its pidfile, data, log, certificates and ports moved inside
that dir, and Prosody run from it as the prosody user (never as root)."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from harness import PLUGINS, REPO, free_port, loopback_options, native_module

DOMAIN = "meet.test"


def installer() -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = target / "release" / "jitsi-meet-tokens"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release` at the repository root first")
    return str(binary)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def drop_option(text: str, key: str) -> str:
    lines = text.split("\n")
    out, skipping = [], False
    for line in lines:
        if skipping:
            if line.startswith("}"):
                skipping = False
            continue
        m = re.match(rf"{key}\s*=\s*(.*)$", line)
        if m:
            skipping = m.group(1).startswith("{") and "}" not in m.group(1)
            continue
        out.append(line)
    return "\n".join(out)


class ScratchRoot:
    def __init__(self):
        if shutil.which("prosody") is None:
            pytest.fail("prosody is not installed: `apt-get install -y prosody`")
        self.base = Path(tempfile.mkdtemp(prefix="jmt-installer-"))
        self.base.chmod(0o755)  # the prosody user must reach the config inside
        self.root = self.base / "root"
        # Prosody's pidfile, data and log inside the root: the installer restarts
        # only a Prosody whose files all lie under --root.
        self.run_dir = self.root / "run"
        self.http_port = free_port()
        self.c2s_port = free_port()
        self.procs: list[subprocess.Popen] = []
        # Debian's config as the package ships it: its conffiles under /etc/prosody
        # (other suites may be changing the live /etc/prosody meanwhile) and the
        # conf.d link its postinst makes.
        etc = self.root / "etc/prosody"
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "prosody"],
                                   capture_output=True, text=True, check=True).stdout
        for line in conffiles.splitlines():
            path = line.split()[0] if line.strip() else ""
            if path.startswith("/etc/prosody/"):
                dest = self.root / path.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
        (etc / "conf.d").mkdir()
        (etc / "certs").mkdir()
        os.symlink("../conf.avail/localhost.cfg.lua", etc / "conf.d/localhost.cfg.lua")
        (self.root / "var/lib/dpkg").mkdir(parents=True)
        status = subprocess.run(["dpkg-query", "-s", "prosody"], capture_output=True, check=True).stdout
        (self.root / "var/lib/dpkg/status").write_bytes(status)
        (self.root / "usr/bin").mkdir(parents=True)
        # A copy, not a link: under --root a link to /usr/bin/prosody means the root's own.
        shutil.copy2(shutil.which("prosody"), self.root / "usr/bin/prosody")
        for sub in ("data", "certs"):
            (self.run_dir / sub).mkdir(parents=True)
        self.log = self.run_dir / "prosody.log"
        main = etc / "prosody.cfg.lua"
        text = main.read_text()
        overrides = f"""
-- test overrides: everything inside the scratch dir, loopback only
{loopback_options(self.run_dir, self.log, self.c2s_port, self.http_port)}
"""
        # Prosody 0.12 fails on a global option set twice, so Debian's own lines for
        # the options we move go first (each is `key = value` or a `{ ... }` block
        # closed by a line starting with `}`).
        for key in ("pidfile", "data_path", "certificates", "log", "interfaces", "c2s_ports",
                    "http_ports", "http_interfaces", "https_ports", "modules_disabled",
                    "consider_bosh_secure", "prosodyctl_service_warnings"):
            text = drop_option(text, key)
        # Global options must come before the first VirtualHost line (Debian's file
        # has `VirtualHost "localhost"` above its conf.d Include).
        first_host = re.search(r"^VirtualHost ", text, re.M)
        assert first_host, "Debian's prosody.cfg.lua has a VirtualHost line"
        main.write_text(text[: first_host.start()] + overrides + "\n" + text[first_host.start():])
        pw = pwd.getpwnam("prosody")
        for p in [self.run_dir, *self.run_dir.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)
        for p in [etc, *etc.rglob("*")]:
            if not p.is_symlink():
                os.chown(p, 0, pw.pw_gid)
        self.module = native_module()
        self.cpath = self.root / "usr/lib/x86_64-linux-gnu/lua/5.4"

    # -- the installer -----------------------------------------------------------
    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([installer(), *args], input=stdin, capture_output=True, text=True, timeout=timeout)

    def configure(self, secret: str, *extra: str, app_id: str = "myapp",
                  plugin_dir: Path = PLUGINS) -> tuple[subprocess.CompletedProcess, dict]:
        r = self.run(
            "configure", "--root", str(self.root), "--domain", DOMAIN, "--app-id", app_id,
            "--app-secret-file", "-", "--non-interactive", "--output", "json",
            "--native-module", str(self.module), "--plugin-dir", str(plugin_dir), *extra,
            stdin=secret,
        )
        return r, json.loads(r.stdout)

    def unconfigure(self, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
        r = self.run("unconfigure", "--root", str(self.root), "--domain", DOMAIN,
                     "--non-interactive", "--output", "json", *extra)
        return r, json.loads(r.stdout)

    def mint(self, secret_override: str | None = None) -> str:
        """A token from the host's own settings via `token mint` (helper "tools")."""
        args = ["token", "mint", "--root", str(self.root), "--domain", DOMAIN]
        stdin = None
        if secret_override is not None:
            args += ["--app-secret-file", "-"]
            stdin = secret_override
        r = self.run(*args, stdin=stdin)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    # -- Prosody -----------------------------------------------------------------
    @property
    def bosh_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/http-bind"

    def pid(self) -> int | None:
        try:
            pid = int((self.run_dir / "prosody.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def start(self) -> int:
        env = dict(os.environ, LUA_CPATH_5_4=f"{self.cpath}/?.so;;")
        cmd = ["setpriv", "--reuid=prosody", "--regid=prosody", "--init-groups", "--",
               "prosody", "--config", str(self.root / "etc/prosody/prosody.cfg.lua"), "-F"]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        self.wait_port(self.c2s_port)
        deadline = time.monotonic() + 10
        while self.pid() != p.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.pid() == p.pid, (self.pid(), p.pid)
        return p.pid

    def wait_port(self, port: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prosody does not listen on {port}:\n" + self.log_text()[-4000:])
            time.sleep(0.05)

    def wait_http(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.bosh_url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("prosody does not answer on /http-bind:\n" + self.log_text()[-4000:])
            time.sleep(0.05)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Stop whatever Prosody runs from this root (ours or the installer's), by PID."""
        pids = {p.pid for p in self.procs if p.poll() is None}
        if (pid := self.pid()) is not None:
            pids.add(pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for pid in pids:
            while alive(pid) and time.monotonic() < deadline:
                for p in self.procs:
                    p.poll()  # reap our own children
                time.sleep(0.05)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def snapshot(self) -> dict[str, tuple[bytes | str, int]]:
        """Every file and link under etc/prosody: bytes (or link target) and mtime."""
        out = {}
        for p in sorted((self.root / "etc/prosody").rglob("*")):
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(self.root))] = (os.readlink(p), st.st_mtime_ns)
            elif p.is_file():
                out[str(p.relative_to(self.root))] = (p.read_bytes(), st.st_mtime_ns)
        return out


def jid_ok(jid: str | None) -> bool:
    return bool(jid and re.fullmatch(r"[0-9a-f-]{36}@meet\.test/.+", jid))
