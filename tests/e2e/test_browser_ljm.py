"""The real client: lib-jitsi-meet (npm `lib-jitsi-meet-dist`) in Debian's headless
Chromium runs `new JitsiMeetJS.JitsiConnection(APP_ID, token, options).connect()`
against the harness's Prosody over BOSH and over WebSocket, then joins a conference
with `disableFocus` (no Jicofo here) and reads its own presence.

The page and the library come from a loopback HTTP server of this test; BOSH is
another origin, allowed by Prosody's CORS for exactly that page origin.
Needs: `chromium` (Debian) and `npm ci --prefix tests/browser`."""

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness import APP_ID, REPO, SECRET, KeyServer, Prosody, mint

BROWSER = REPO / "tests/browser"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never a downloaded browser
LIB = BROWSER / "node_modules/lib-jitsi-meet-dist/dist/lib-jitsi-meet.min.js"
JQUERY = BROWSER / "node_modules/jquery/dist/jquery.min.js"  # the library expects a global $
FLOW_TIMEOUT_MS = 20_000  # each flow in the page
DRIVER_TIMEOUT = 150  # seconds for the whole browser run

HOSTS = f"""
VirtualHost "meet.test"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
    modules_enabled = {{ "presence_identity" }}

Component "conference.meet.test" "muc"
    modules_enabled = {{ "token_verification" }}
    muc_room_locking = false
"""


def requirements() -> str:
    """The node binary; fails (never skips) with what to install."""
    node = shutil.which("node")
    if not node:
        pytest.fail("node is missing: `apt-get install -y nodejs npm`")
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (Debian's package)")
    for need in (LIB, JQUERY, BROWSER / "node_modules/playwright-core/package.json"):
        if not need.is_file():
            pytest.fail(f"{need} is missing: run `npm ci --prefix tests/browser`")
    return node


PAGE_FILES = {"/ljm.html": BROWSER / "ljm.html", "/jquery.min.js": JQUERY,
              "/lib-jitsi-meet.min.js": LIB}


@pytest.fixture(scope="module")
def page():
    """The harness's loopback file server, serving the page and the scripts only."""
    requirements()
    server = KeyServer()
    for path, file in PAGE_FILES.items():
        server.files[path] = (200, file.read_bytes())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser_prosody(page):
    # CORS for BOSH from the page's origin only (Prosody 0.12 allows any origin by
    # default); the app is named as mod_http names it.
    cors = f'http_cors_override = {{ bosh = {{ enabled = true, origins = {{ "{page.base}" }} }} }}'
    with Prosody(HOSTS, global_config=f'muc_mapper_domain_base = "meet.test"\n{cors}').running() as server:
        yield server


TRANSPORTS = {"bosh": lambda p: p.bosh_url, "websocket": lambda p: p.ws_url}
FLOWS = {
    "valid": lambda: {"token": mint()},
    "refused": lambda: {"token": mint(key="a-secret-the-server-does-not-have-0123456789")},
    "conference": lambda: {"token": mint(), "room": "browsertest"},
}


def run_browser(page_url: str, flows: list[dict]) -> dict:
    node = requirements()
    arg = json.dumps({"chromium": str(CHROMIUM), "page": page_url, "flows": flows, "timeoutMs": FLOW_TIMEOUT_MS})
    # Own process group, so a timeout stops Chromium with the driver.
    proc = subprocess.Popen([node, str(BROWSER / "drive.mjs"), arg], cwd=BROWSER,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"the browser run took over {DRIVER_TIMEOUT}s:\n{err[-5000:]}")
    assert proc.returncode == 0, err[-5000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def results(page, browser_prosody):
    """Every flow over every transport in one browser run: {(transport, flow): result}."""
    keys, flows = [], []
    for transport, url in TRANSPORTS.items():
        for name, make in FLOWS.items():
            cfg = {"appId": APP_ID, "domain": "meet.test", "muc": "conference.meet.test",
                   "serviceUrl": url(browser_prosody), "timeoutMs": FLOW_TIMEOUT_MS, **make()}
            keys.append((transport, name))
            flows.append(cfg)
    run = run_browser(f"{page.base}/ljm.html", flows)
    by_key = dict(zip(keys, run["results"]))
    by_key["console"] = run["console"]
    return by_key


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_valid_token_connects(results, transport):
    r = results[(transport, "valid")]
    assert r["outcome"] == "established", (r, results["console"])
    assert r["jid"].split("/")[0].endswith("@meet.test"), r


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refused_token_fails(results, transport):
    r = results[(transport, "refused")]
    assert r["outcome"] == "failed", (r, results["console"])
    assert r["error"] == "connection.passwordRequired", r  # how the library reports SASL failure


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_conference_self_presence_has_token_identity(results, transport):
    r = results[(transport, "conference")]
    assert r["outcome"] == "joined", json.dumps([r, results["console"]], indent=1)[-6000:]
    assert r["identity"] is not None, r["selfPresence"]
    assert r["identity"]["user"]["name"] == "Alice Example", r["identity"]
    assert r["identity"]["user"]["id"] == "u-1", r["identity"]
    assert r["identity"]["group"] == "g-1", r["identity"]


def preflight(bosh_url: str, origin: str) -> str | None:
    req = urllib.request.Request(bosh_url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers.get("Access-Control-Allow-Origin")


def test_bosh_cors_only_for_the_page_origin(page, browser_prosody):
    assert preflight(browser_prosody.bosh_url, page.base) == page.base
    assert preflight(browser_prosody.bosh_url, "http://elsewhere.test") is None
