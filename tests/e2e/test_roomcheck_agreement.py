"""One room check: every case of crates/verifier/tests/room_cases.json through
Debian's Prosody (a real login with a PyJWT token and a real MUC join) and through
`token verify --join` on the same config. Both must give the table's verdict and
condition; the verifier's unit test runs the same table."""

import json
import uuid

import pytest

from harness import APP_ID, DROP, REPO, SECRET, WS, Prosody, lua_string, mint
from test_muc import join, joined, refusal
from test_status_live import config_root, run

TABLE = json.loads((REPO / "crates/verifier/tests/room_cases.json").read_text())
CASES = TABLE["cases"]


def host_of(profile: str) -> str:
    return f"{profile}.rc.test"


def fill(value, host: str):
    return value.replace("{host}", host) if isinstance(value, str) else value


def lua_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return lua_string(v)


def hosts_config() -> str:
    out = []
    for name, profile in TABLE["profiles"].items():
        host = host_of(name)
        options = {**profile["options"], **profile.get("login", {})}
        lines = "\n".join(f"    {k} = {lua_value(fill(v, host))}" for k, v in options.items())
        out.append(f"""
VirtualHost "{host}"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
{lines}

Component "{fill(profile["component"], host)}" "muc"
    modules_enabled = {{ "token_verification" }}
    muc_room_locking = false
""")
    return "\n".join(out)


@pytest.fixture(scope="module")
def server():
    with Prosody(hosts_config()).running() as s:
        yield s


@pytest.fixture(scope="module")
def root(server):
    with config_root(server) as d:
        yield d


def token_for(case, host: str) -> str:
    over = {}
    for k, v in case["claims"].items():
        over[k] = DROP if v is None else fill(v, host)
    return mint(**over)


def prosody_verdict(server, case, host: str, token: str):
    ws = WS(server, host, token)
    try:
        result = ws.login()
        assert result.ok, (case["name"], result)
        component = fill(TABLE["profiles"][case["profile"]]["component"], host)
        answer = join(ws, f"{case['room']}@{component}", f"n{uuid.uuid4().hex[:8]}")
        if joined(answer):
            return "allow", None
        cond, _, codes = refusal(answer)
        assert cond == ["not-allowed"] and len(codes) == 1, (case["name"], cond, codes)
        return "deny", codes[0]
    finally:
        ws.close()


def cli_verdict(root, case, host: str, token: str):
    r = run("token", "verify", "--root", str(root), "--domain", host, "--join", case["room"],
            "--output", "json", token)
    report = json.loads(r.stdout)
    assert report["reason"] is None, (case["name"], report)
    [preview] = report["joins"]
    assert r.returncode == (0 if preview["allowed"] else 1), (case["name"], report)
    assert report["valid"] == preview["allowed"], report
    return ("allow", None) if preview["allowed"] else ("deny", preview["condition"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prosody_and_token_verify_agree_with_the_table(server, root, case):
    host = host_of(case["profile"])
    token = token_for(case, host)
    expected = (case["verdict"], case.get("condition"))
    assert prosody_verdict(server, case, host, token) == expected, "Prosody"
    assert cli_verdict(root, case, host, token) == expected, "token verify --join"


def test_default_preview_finds_the_failing_join(root):
    """Without --join, `token verify` checks the rooms the claims name (issue 12 item 6)."""
    host = host_of("default")
    token = mint(room="standup", sub="other.example")
    r = run("token", "verify", "--root", str(root), "--domain", host, token)
    assert r.returncode == 1, r.stdout
    assert "REFUSED at room join" in r.stdout, r.stdout
    assert f"standup@conference.{host} refused with room-mismatch" in r.stdout, r.stdout
    tenant = mint(room="standup", sub="acme")
    r = run("token", "verify", "--root", str(root), "--domain", host, "--output", "json", tenant)
    report = json.loads(r.stdout)
    assert r.returncode == 0, report
    assert [(j["room"], j["allowed"], j["condition"]) for j in report["joins"]] == [
        (f"standup@conference.{host}", False, "room-mismatch"),
        (f"[acme]standup@conference.{host}", True, None),
    ]
