"""`status --live` against a Prosody laid out as Jitsi does it: BOSH and WebSocket in
the VirtualHost's `modules_enabled`, not globally. Prosody then routes HTTP by the
`Host` header, so the live login must name the domain there."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import APP_ID, PER_HOST_HTTP_MODULES, SECRET, Prosody
from test_status_live import config_root, live, run

TOKEN_HOST = f"""
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
"""

HOSTS = f"""
VirtualHost "meet.test"
{TOKEN_HOST}
    modules_enabled = {{ "bosh", "websocket", "presence_identity" }}

VirtualHost "nobosh.test"
{TOKEN_HOST}
"""


@pytest.fixture(scope="module")
def vhost_prosody():
    with Prosody(HOSTS, global_modules=PER_HOST_HTTP_MODULES, http_host="meet.test").running() as server:
        yield server


@pytest.fixture
def root(vhost_prosody):
    with config_root(vhost_prosody) as d:
        yield d


def status(root: Path, server: Prosody, domain: str) -> dict:
    r = run(
        "status", "--root", str(root), "--domain", domain, "--live", "--timeout", "10s",
        "--bosh-url", server.bosh_url, "--output", "json",
    )
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def http_status(url: str, host: str) -> int:
    req = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_bosh_is_per_host(vhost_prosody):
    # The layout under test: only the host's name reaches BOSH; the address does not.
    assert http_status(vhost_prosody.bosh_url, "meet.test") == 200
    assert http_status(vhost_prosody.bosh_url, f"127.0.0.1:{vhost_prosody.http_port}") == 404


def test_status_live_login_per_host_bosh(vhost_prosody, root):
    check = live(status(root, vhost_prosody, "meet.test"))
    assert check["result"] == "ok", check
    assert "@meet.test/" in check["detail"]


def test_status_live_host_without_bosh(vhost_prosody, root):
    # A token host that has no BOSH of its own: the failure names the host and the fix.
    check = live(status(root, vhost_prosody, "nobosh.test"))
    assert check["result"] == "fail", check
    assert "HTTP 404" in check["detail"]
    assert '"bosh"' in check["detail"] and "nobosh.test" in check["detail"], check
