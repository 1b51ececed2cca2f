"""`jitsi-meet-tokens configure`/`unconfigure` against the machine's real Prosody in
a scratch root: the tool restarts Prosody itself, token logins over BOSH prove the
result, and broken configs or a Prosody that cannot come back are handled."""

import time

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
    assert "did not come back" in out["error"], out
    assert "previous files are back" in out["error"], out
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
    # The host is gone: no session for meet.test any more.
    with pytest.raises(Exception):
        login(scratch, token)
    r, out = scratch.unconfigure()
    assert r.returncode == 0 and out["changed"] is False
