"""The CLI against a real Prosody: `token verify` gives the answer Prosody gives,
`token mint --domain` logs in, and `status --live` logs in over BOSH (or reports the
server's refusal)."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import APP_ID, REPO, SECRET, Bosh, lua_string


def cli() -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = target / "release" / "jitsi-meet-tokens"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release` at the repository root first")
    return str(binary)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([cli(), *args], input=stdin, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def config_root(server):
    """A --root tree whose prosody.cfg.lua is the running server's config."""
    d = Path(tempfile.mkdtemp(prefix="jmt-status-root-"))
    try:
        (d / "etc/prosody").mkdir(parents=True)
        shutil.copy(server.dir / "prosody.cfg.lua", d / "etc/prosody/prosody.cfg.lua")
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def root(prosody):
    with config_root(prosody) as d:
        yield d


def mint(root: Path, *flags: str) -> str:
    r = run("token", "mint", "--root", str(root), "--domain", "meet.test", *flags)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def verify(root: Path, token: str) -> dict:
    r = run("token", "verify", "--root", str(root), "--domain", "meet.test", "--output", "json", token)
    report = json.loads(r.stdout)
    assert r.returncode == (0 if report["valid"] else 1)
    return report


# Each variant: mint flags. The CLI's verdict must be the server's SASL answer.
VARIANTS = [
    [],
    ["--omit", "sub"],
    ["--omit", "room"],
    ["--iss", "stranger"],
    ["--aud", "other-audience"],
    ["--at", "now-2h"],
    ["--nbf", "now+1h"],
    ["--claim", 'exp="soon"'],
]


@pytest.mark.parametrize("flags", VARIANTS, ids=lambda f: " ".join(f) or "valid")
def test_verify_matches_prosody(prosody, root, flags):
    token = mint(root, *flags)
    report = verify(root, token)
    result, jid = Bosh(prosody, "meet.test", token).login()
    assert result.ok == report["valid"], (report, result)
    if result.ok:
        assert jid.endswith("@meet.test/" + jid.split("/", 1)[1])
        return
    assert result.condition == report["condition"]
    if report["reason"].startswith("Not acceptable by exp"):
        # The seconds count may tick between the two checks.
        assert result.text.startswith("Not acceptable by exp (")
    else:
        assert result.text == report["reason"]
    failed = [c for c in report["checks"] if c["result"] == "fail"]
    assert len(failed) == 1 and failed[0]["hint"], report


def status(root: Path, prosody, *extra: str) -> dict:
    return status_for(root, prosody, "meet.test", *extra)


def live(report: dict) -> dict:
    [check] = [c for c in report["checks"] if c["check"] == "live-login"]
    return check


def test_status_live_login(prosody, root):
    report = status(root, prosody)
    check = live(report)
    assert check["result"] == "ok", check
    assert "@meet.test/" in check["detail"]
    # Typed: the value is the JID bound, not a sentence.
    assert check["value"].split("/", 1)[0].endswith("@meet.test") and " " not in check["value"], check
    # The host's settings were read from the running server's config.
    host = report["hosts"][0]
    settings = {s["name"]: s for s in host["settings"]}
    assert settings["app_id"]["value"] == APP_ID, settings["app_id"]


def test_status_live_reports_refusal(prosody, root):
    # The file on disk has another secret than the running server: the login is
    # refused with the server's text, and status says the server needs a restart.
    cfg = root / "etc/prosody/prosody.cfg.lua"
    text = cfg.read_text()
    assert lua_string(SECRET) in text
    cfg.write_text(text.replace(lua_string(SECRET), lua_string("a-secret-the-server-never-loaded")))
    report = status(root, prosody)
    check = live(report)
    assert check["result"] == "fail"
    assert '"Invalid signature"' in check["detail"]
    assert "restart" in check["hint"]
    assert check["value"] == "not-allowed", check
    assert report["ok"] is False


def test_status_live_no_server(root):
    # Nothing listens: a clear failure, not a hang.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run(
        "status", "--root", str(root), "--domain", "meet.test", "--live", "--timeout", "3s",
        "--bosh-url", f"http://127.0.0.1:{port}/http-bind", "--output", "json",
    )
    assert r.returncode == 1
    check = live(json.loads(r.stdout))
    assert check["result"] == "fail"
    assert "bosh-url" in check["hint"]


@pytest.fixture
def private_pem(rsa_key, tmp_path):
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "rs.key"
    path.write_bytes(
        rsa_key[0].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.mark.parametrize("kid", ["e2e-rsa-key-1", "no-such-kid"])
def test_key_server_verify_matches_prosody(prosody, root, private_pem, kid):
    # keys.test fetches keys from the test's key server; the CLI fetches the same
    # URL from the host's config and must reach the same verdict.
    r = run(
        "token", "mint", "--root", str(root), "--domain", "keys.test", "--alg", "RS256",
        "--private-key", str(private_pem), "--kid", kid, "--aud", "jitsi",
    )
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    r = run("token", "verify", "--root", str(root), "--domain", "keys.test", "--output", "json", token)
    report = json.loads(r.stdout)
    result, _ = Bosh(prosody, "keys.test", token).login()
    # The login verdict (keys.test has no MUC of its own, so its joins are refused).
    assert result.ok == (report["reason"] is None), (report, result)
    if not result.ok:
        assert result.text == report["reason"] == "could not obtain public key"
        assert "HTTP 404" in json.dumps(report)


def test_status_live_key_server_host(prosody, root, private_pem):
    report = status_for(root, prosody, "keys.test", "--private-key", str(private_pem), "--kid", "e2e-rsa-key-1")
    check = live(report)
    assert check["result"] == "ok", check
    assert "@keys.test/" in check["detail"]
    # The base URL answers 404 (keys live below it): reachable, no key fetched there.
    [ks] = [c for c in report["checks"] if c["check"] == "key-server"]
    assert ks["result"] == "warn", ks
    assert "reachable (HTTP 404 at its base URL)" in ks["detail"], ks


def status_for(root: Path, prosody, domain: str, *extra: str) -> dict:
    r = run(
        "status", "--root", str(root), "--domain", domain, "--live",
        "--bosh-url", prosody.bosh_url, "--output", "json", *extra,
    )
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)
