"""`jitsi-meet-tokens configure`/`unconfigure` against the machine's real Prosody in
a scratch root: the tool restarts Prosody itself, token logins over BOSH prove the
result, and broken configs or a Prosody that cannot come back are handled."""

import re
import subprocess
import time
import urllib.error

import pytest

from harness import Bosh
from test_installer_support import DOMAIN, ScratchRoot, jid_ok


@pytest.fixture
def scratch():
    s = ScratchRoot()
    try:
        yield s
    finally:
        s.cleanup()


def login(s: ScratchRoot, token: str):
    # BOSH is enabled on the VirtualHost, and Prosody routes HTTP by Host.
    return Bosh(s, DOMAIN, token, headers={"Host": DOMAIN}).login()


def test_configure_restarts_prosody_and_tokens_work(scratch):
    old_pid = scratch.start()
    t0 = time.monotonic()
    r, out = scratch.configure("first-secret")
    full = time.monotonic() - t0
    assert r.returncode == 0, (r.stdout, r.stderr, scratch.log_text()[-3000:])
    assert out["changed"] is True
    assert out["restart"] == "restarted", out
    new_pid = scratch.pid()
    assert new_pid and new_pid != old_pid
    # A token from the host's own settings logs in and binds a JID ...
    result, jid = login(scratch, scratch.mint())
    assert result.ok, (result, scratch.log_text()[-3000:])
    assert jid_ok(jid), jid
    # ... one signed with another secret does not.
    result, jid = login(scratch, scratch.mint(secret_override="not-the-secret"))
    assert not result.ok and result.condition == "not-allowed", result
    assert jid is None

    # Second run: nothing written, nothing restarted.
    before = scratch.snapshot()
    t0 = time.monotonic()
    r, out = scratch.configure("first-secret")
    noop = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert out == {**out, "changed": False, "files": [], "restart": "none"}, out
    assert scratch.pid() == new_pid
    assert scratch.snapshot() == before
    print(f"\nconfigure with restart: {full:.3f} s; no-op re-run: {noop * 1000:.1f} ms")
    assert noop < 1.0, f"no-op re-run took {noop:.3f} s"


def test_new_secret_replaces_the_old_one(scratch):
    scratch.start()
    r, _ = scratch.configure("secret-one")
    assert r.returncode == 0, r.stdout
    old_token = scratch.mint()
    assert login(scratch, old_token)[0].ok
    pid = scratch.pid()
    r, out = scratch.configure("secret-two")
    assert r.returncode == 0, r.stdout
    assert out["changed"] is True and out["restart"] == "restarted"
    assert scratch.pid() != pid
    result, _ = login(scratch, old_token)
    assert not result.ok, "the old token must stop working"
    assert login(scratch, scratch.mint())[0].ok


def test_broken_config_is_refused_without_touching_anything(scratch):
    pid = scratch.start()
    conf = scratch.root / "etc/prosody/conf.avail/localhost.cfg.lua"
    conf.write_text(conf.read_text() + "\nthis is not lua = =\n")
    before = scratch.snapshot()
    r, out = scratch.configure("s3cret")
    assert r.returncode == 1, r.stdout
    assert "broken" in out["error"], out
    assert out["changed"] is False
    assert scratch.snapshot() == before
    assert scratch.pid() == pid, "Prosody was not restarted"


def test_prosody_that_cannot_come_back_is_rolled_back(scratch, tmp_path):
    scratch.start()
    before = scratch.snapshot()
    # Our plugins are "missing": Prosody starts, but the host offers no token login.
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    empty.chmod(0o755)
    r, out = scratch.configure("s3cret", plugin_dir=empty)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert out["restart"] == "failed", out
    # One cause, once, with the log's path (issue 12, item 14).
    err = out["error"]
    assert err.startswith("Prosody did not come back with the new configuration: "), err
    assert re.search(r"; the previous files are back and Prosody restarted \(PID \d+\)$", err), err
    assert err.count("offers no token login") == 1, err
    assert err.count(f"its log: {scratch.log}") == 1, err
    after = scratch.snapshot()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}, \
        "the old config files are back, byte for byte"
    # Prosody runs again on the old config.
    assert scratch.pid() is not None
    scratch.wait_port(scratch.c2s_port)


def test_unconfigure_restores_the_files_and_ends_token_logins(scratch):
    scratch.start()
    before = scratch.snapshot()
    r, _ = scratch.configure("s3cret")
    assert r.returncode == 0, r.stdout
    token = scratch.mint()
    assert login(scratch, token)[0].ok
    pid = scratch.pid()
    r, out = scratch.unconfigure()
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert out["changed"] is True and out["restart"] == "restarted", out
    assert scratch.pid() != pid
    after = scratch.snapshot()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    # The host is gone, and with it the only module serving HTTP: Prosody runs (c2s
    # answers) but no BOSH endpoint listens any more.
    scratch.wait_port(scratch.c2s_port)
    with pytest.raises(urllib.error.URLError) as gone:
        login(scratch, token)
    assert isinstance(gone.value.reason, ConnectionRefusedError), gone.value
    r, out = scratch.unconfigure()
    assert r.returncode == 0 and out["changed"] is False


@pytest.mark.parametrize("escape", ["pidfile", "binary"])
def test_root_never_reaches_outside_itself(scratch, escape):
    """Under --root, a Prosody whose pidfile or binary is outside the root is not
    restarted: the process a pidfile outside names is not signalled, nothing starts,
    nothing is written (issue 12, item 1)."""
    # A live process named `prosody`, outside the root, as the host's own would be.
    decoy = subprocess.Popen(["bash", "-c", "exec -a prosody sleep 60"])
    try:
        main = scratch.root / "etc/prosody/prosody.cfg.lua"
        if escape == "pidfile":
            outside = scratch.base / "host-run/prosody.pid"
            outside.parent.mkdir()
            outside.write_text(f"{decoy.pid}\n")
            text = re.sub(r'^pidfile = .*$', f'pidfile = "{outside}"', main.read_text(), flags=re.M)
            main.write_text(text)
            said = f"its pidfile {outside} lies outside --root {scratch.root}"
        else:
            (scratch.root / "usr/bin/prosody").unlink()
            said = f"there is no {scratch.root}/usr/bin/prosody"
        before = scratch.snapshot()
        r, out = scratch.configure("s3cret")
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert said in out["error"] and "--no-restart" in out["error"], out
        assert out["changed"] is False and out["restart"] == "none", out
        assert scratch.snapshot() == before
        assert decoy.poll() is None, "the process outside the root was signalled"
        assert scratch.pid() is None, "no Prosody was started"
        # With --no-restart the same run configures the files and starts nothing.
        r, out = scratch.configure("s3cret", "--no-restart")
        assert r.returncode == 0 and out["restart"] == "skipped", (r.stdout, r.stderr)
        assert decoy.poll() is None and scratch.pid() is None
    finally:
        decoy.kill()
        decoy.wait()


def test_package_removal_unconfigure_with_prosody_stopped(scratch):
    """prerm's `unconfigure --if-running`: with Prosody stopped the files are reverted
    at once, nothing is started, and the run succeeds (issue 12, item 2)."""
    scratch.start()
    before = scratch.snapshot()
    r, _ = scratch.configure("s3cret")
    assert r.returncode == 0, r.stdout
    scratch.stop()
    t0 = time.monotonic()
    r, out = scratch.unconfigure("--if-running")
    took = time.monotonic() - t0
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert out["changed"] is True and out["restart"] == "skipped", out
    assert any("Prosody is not running: left stopped" in w for w in out["warnings"]), out
    assert took < 10, f"unconfigure took {took:.1f} s"
    assert scratch.pid() is None, "a stopped Prosody stays stopped"
    after = scratch.snapshot()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}


def test_package_removal_unconfigure_when_prosody_does_not_come_back(scratch):
    """prerm's `unconfigure --if-running` with a Prosody that cannot start again: a
    warning naming the cause and the log, exit 0, the files stay reverted."""
    scratch.start()
    before = scratch.snapshot()
    r, _ = scratch.configure("s3cret")
    assert r.returncode == 0, r.stdout
    binary = scratch.root / "usr/bin/prosody"
    binary.unlink()
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    r, out = scratch.unconfigure("--if-running")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert out["changed"] is True and out["restart"] == "failed" and "error" not in out, out
    [w] = [w for w in out["warnings"] if "did not come back" in w]
    assert w.startswith("the files are reverted, but Prosody did not come back: "), w
    assert f"its log: {scratch.log}" in w and "invoke-rc.d prosody start" in w, w
    after = scratch.snapshot()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
