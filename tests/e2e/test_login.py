"""Token logins over real BOSH and WebSocket against Debian's Prosody."""

import re
import time

import jwt
import pytest

from harness import DROP, SECRET, WS, Bosh, mint, raw_token


def good_login(prosody):
    result, jid = Bosh(prosody, "meet.test", mint()).login()
    assert result.ok, result
    assert re.fullmatch(r"[0-9a-f-]{36}@meet\.test/.+", jid), jid


def test_hs256_login_binds_a_jid_over_bosh(prosody):
    result, jid = Bosh(prosody, "meet.test", mint()).login()
    assert result.ok, result
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@meet\.test/.+", jid)


def test_hs256_login_binds_a_jid_over_websocket(prosody):
    ws = WS(prosody, "meet.test", mint())
    try:
        assert ws.login().ok
        assert re.fullmatch(r"[0-9a-f-]{36}@meet\.test/.+", ws.jid), ws.jid
    finally:
        ws.close()


def test_each_login_gets_a_fresh_username(prosody):
    token = mint()
    logins = [Bosh(prosody, "meet.test", token).login() for _ in range(3)]
    assert [r.ok for r, _ in logins] == [True] * 3, logins
    users = [re.fullmatch(r"([0-9a-f-]{36})@meet\.test/.+", jid or "") for _, jid in logins]
    assert all(users), logins
    assert len({u.group(1) for u in users}) == 3, logins


def test_authorization_bearer_header(prosody):
    result, _ = Bosh(prosody, "meet.test", headers={"Authorization": "Bearer " + mint()}).login()
    assert result.ok, result
    # Without the `Bearer ` prefix the header is not a token.
    result, _ = Bosh(prosody, "meet.test", headers={"Authorization": "Basic " + mint()}).login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "token required")


def test_websocket_bearer_header(prosody):
    ws = WS(prosody, "meet.test", headers=["Authorization: Bearer " + mint()])
    try:
        assert ws.login().ok
    finally:
        ws.close()


NOW = int(time.time())

FAILURES = [
    # (name, token, condition, text)
    ("not three segments", lambda: "123", "not-allowed", "Invalid token"),
    ("header not an object", lambda: raw_token(b'"JWT"', {"iss": "x"}), "not-allowed", "Invalid header"),
    ("body not an object", lambda: raw_token({"alg": "HS256", "typ": "JWT"}, b"[1]"), "not-allowed", "Invalid body"),
    ("typ missing", lambda: mint(headers={"typ": None}), "not-allowed", "Invalid typ"),
    ("typ other", lambda: mint(headers={"typ": "JOSE"}), "not-allowed", "Invalid typ"),
    ("alg other", lambda: mint(alg="HS384"), "not-allowed", "Invalid or incorrect alg"),
    ("alg none", lambda: jwt.encode({"iss": "x"}, None, algorithm="none"), "not-allowed", "Invalid or incorrect alg"),
    ("wrong secret", lambda: mint(key="not-the-secret-not-the-secret-0123456789"), "not-allowed", "Invalid signature"),
    ("exp not number", lambda: raw_token({"alg": "HS256", "typ": "JWT"}, {"exp": "soon"}), "not-allowed", "exp must be number"),
    ("nbf not number", lambda: raw_token({"alg": "HS256", "typ": "JWT"}, {"nbf": "now"}), "not-allowed", "nbf must be number"),
    ("nbf in future", lambda: mint(nbf=NOW + 3600), "not-allowed", "Not acceptable by nbf"),
    ("iss missing", lambda: mint(iss=DROP), "not-allowed", "'iss' claim is missing"),
    ("iss wrong", lambda: mint(iss="someone-else"), "not-allowed", "invalid 'iss' claim"),
    ("aud missing", lambda: mint(aud=DROP), "not-allowed", "'aud' claim is missing"),
    ("aud wrong", lambda: mint(aud="other"), "not-allowed", "invalid 'aud' claim"),
    ("room missing", lambda: mint(room=DROP), "not-authorized", "room claim is missing"),
    ("sub missing", lambda: mint(sub=DROP), "not-authorized", "sub claim is missing"),
]


@pytest.mark.parametrize("name,make,condition,text", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_reason_arrives_over_bosh(prosody, name, make, condition, text):
    result, _ = Bosh(prosody, "meet.test", make()).login()
    assert (result.ok, result.condition, result.text) == (False, condition, text)


def test_expired_token_reports_seconds(prosody):
    result, _ = Bosh(prosody, "meet.test", mint(exp=int(time.time()) - 100)).login()
    assert not result.ok and result.condition == "not-allowed"
    m = re.fullmatch(r"Not acceptable by exp \((\d+) sec since expired\)", result.text or "")
    assert m and 100 <= int(m.group(1)) <= 130, result


@pytest.mark.parametrize("name,make,condition,text", FAILURES[::4], ids=[f[0] for f in FAILURES[::4]])
def test_failure_reason_arrives_over_websocket(prosody, name, make, condition, text):
    ws = WS(prosody, "meet.test", make())
    try:
        ws.open()
        result = ws.auth()
        assert (result.ok, result.condition, result.text) == (False, condition, text)
    finally:
        ws.close()


def test_a_refused_session_can_retry_and_the_server_stays_responsive(prosody):
    c = Bosh(prosody, "meet.test", "123")
    c.open()
    for _ in range(3):
        assert c.auth().text == "Invalid token"
    good_login(prosody)


def test_no_token_is_refused(prosody):
    result, _ = Bosh(prosody, "meet.test").login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "token required")


def test_no_token_with_allow_empty_token(prosody):
    result, jid = Bosh(prosody, "empty.test").login()
    assert result.ok, result
    assert re.fullmatch(r"[0-9a-f-]{36}@empty\.test/.+", jid or ""), jid
    # A token that is present is still checked.
    result, _ = Bosh(prosody, "empty.test", "123").login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid token")
    result, _ = Bosh(prosody, "empty.test", mint()).login()
    assert result.ok


def test_plain_anonymous_host_keeps_working(prosody):
    """Our ANONYMOUS mechanism replaces the stock one process-wide."""
    result, jid = Bosh(prosody, "anon.test").login()
    assert result.ok, result
    assert "@anon.test/" in jid


def test_host_without_app_id_offers_no_login(prosody):
    c = Bosh(prosody, "broken.test", mint())
    features = c.open()
    assert c.mechanisms(features) == []
    log = prosody.log()
    assert log.count("Token authentication disabled on broken.test") == 1
    assert "app_id" in log


HOSTILE = [
    ("digits", "token=123", "Invalid token"),
    ("undecodable base64url", "token=%FF%FE.%00.x", "Invalid token"),
    ("invalid utf-8", "token=" + "%C3%28" * 10 + ".e30.e30", "Invalid token"),
    ("empty segments", "token=..", "Invalid header"),  # "" is valid base64url, not JSON
    ("dots only", "token=" + "." * 200, "Invalid token"),
]


@pytest.mark.parametrize("name,query,text", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_query_gets_a_failure_and_next_login_works(prosody, name, query, text):
    result, _ = Bosh(prosody, "meet.test", query=query).login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", text)
    good_login(prosody)


def test_deep_json_is_refused(prosody):
    deep = b"[" * 3000 + b"]" * 3000
    for token, text in [
        (raw_token(deep, {"iss": "x"}), "Invalid header"),
        (raw_token({"alg": "HS256", "typ": "JWT"}, b'{"a":' + deep + b"}"), "Invalid body"),
    ]:
        result, _ = Bosh(prosody, "meet.test", token).login()
        assert (result.ok, result.condition, result.text) == (False, "not-allowed", text)
    good_login(prosody)


def test_nine_kilobyte_token(prosody):
    big = mint(key="not-the-secret-not-the-secret-0123456789", padding="x" * 6500)
    assert 8500 < len(big) < 9500
    result, _ = Bosh(prosody, "meet.test", big).login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid signature")
    # The same size, correctly signed, logs in: size alone is no reason to refuse.
    ok, _ = Bosh(prosody, "meet.test", mint(padding="x" * 6500)).login()
    assert ok.ok, ok
    good_login(prosody)


def test_hostile_input_over_websocket(prosody):
    for token in ["123", "\udcff".encode("utf-8", "surrogatepass").decode("latin-1") + ".x.y"]:
        ws = WS(prosody, "meet.test", token)
        try:
            ws.open()
            result = ws.auth()
            assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid token")
        finally:
            ws.close()
    good_login(prosody)


def test_log_never_contains_the_token(prosody):
    token = mint(key="not-the-secret-not-the-secret-0123456789")
    Bosh(prosody, "meet.test", token).login()
    log = prosody.log()
    assert token.split(".")[2] not in log and token.split(".")[1] not in log
    assert SECRET not in log


def test_unloadable_native_module_offers_no_login():
    from harness import APP_ID, Prosody

    server = Prosody(f'VirtualHost "meet.test"\n    authentication = "token"\n    app_id = "{APP_ID}"\n'
                     f'    app_secret = "{SECRET}"\n', native=False)
    try:
        server.start()
        c = Bosh(server, "meet.test", mint())
        assert c.mechanisms(c.open()) == []
        assert "the native module jitsi_tokens could not be loaded" in server.log()
    finally:
        server.stop()
        server.cleanup()
    assert not server.killed


def test_query_token_wins_over_bearer_header(prosody):
    bad = "not-the-secret-not-the-secret-0123456789"
    result, _ = Bosh(prosody, "meet.test", mint(), headers={"Authorization": "Bearer " + mint(key=bad)}).login()
    assert result.ok, result
    result, _ = Bosh(prosody, "meet.test", mint(key=bad), headers={"Authorization": "Bearer " + mint()}).login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid signature")
