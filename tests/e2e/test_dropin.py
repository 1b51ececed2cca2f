"""A drop-in for Jitsi's token module on a Jitsi-style server: a guest VirtualHost
whose provider registers its own ANONYMOUS (tests/e2e/modules_dropin stands in
for Jitsi's `jitsi-anonymous`), both registration orders made deterministic,
XEP-0198 resumption with `?previd=`, the events other Jitsi modules hook, the
metrics on Prosody's /metrics, and muc#owner/muc#admin under
token_verification_require_token_for_moderation."""

import json
import re
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import jwt
import pytest

from harness import (APP_ID, BIND, CLIENT, JITMEET, MUC, RS_KID, SECRET, STANZAS, WS, Bosh, Prosody, claims,
                     free_port, mint)

MODULES = Path(__file__).resolve().parent / "modules_dropin"
SM = "urn:xmpp:sm:3"
MAIN, GUEST, ANON, KEYS = "meet.dropin", "guest.dropin", "anon.dropin", "keys.dropin"
NOKEYS = "nokeys.dropin"  # its key server refuses connections
CONF = f"conference.{MAIN}"


def dropin_hosts(keyserver) -> str:
    return f"""
VirtualHost "{MAIN}"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
    modules_enabled = {{ "smacks", "dropin_probe" }}

VirtualHost "{GUEST}"
    authentication = "jitsi-anonymous"
    modules_enabled = {{ "smacks" }}

VirtualHost "{ANON}"
    authentication = "anonymous"

VirtualHost "{KEYS}"
    authentication = "token"
    app_id = "{APP_ID}"
    asap_accepted_audiences = {{ "jitsi" }}
    asap_key_server = "{keyserver.base}/keys"

VirtualHost "{NOKEYS}"
    authentication = "token"
    app_id = "{APP_ID}"
    asap_accepted_audiences = {{ "jitsi" }}
    asap_key_server = "http://127.0.0.1:{free_port()}/keys"

Component "{CONF}" "muc"
    modules_enabled = {{ "token_verification" }}
    token_verification_allowlist = {{ "{GUEST}" }}
    token_verification_require_token_for_moderation = true
    muc_room_locking = false
"""


# Which module's ANONYMOUS is registered last: the order Prosody loads hosts in
# changes from start to start, so a global test module reloads the chosen one.
ORDERS = {"token-last": (MAIN, "auth_token"), "guest-last": (GUEST, "auth_jitsi-anonymous")}


@pytest.fixture(scope="module", params=sorted(ORDERS))
def server(request, keyserver):
    host, name = ORDERS[request.param]
    p = Prosody(
        dropin_hosts(keyserver),
        global_config=f'dropin_register_last = {{ "{host}", "{name}" }}\n'
                      'statistics = "internal"\nstatistics_interval = "manual"\n'
                      f'muc_mapper_domain_base = "{MAIN}"',
        plugin_dirs=[MODULES],
        extra_modules=["http_openmetrics", "dropin_register_last"],
    )
    p.order = request.param
    with p.running():
        p.wait_for_log(rf"dropin: reloaded {re.escape(name)} on {re.escape(host)} to register last: ok")
        yield p
        assert "attempt to call" not in p.log(), p.log()[-8000:]


def tag() -> str:
    return uuid.uuid4().hex[:10]


def is_uuid(node: str) -> bool:
    try:
        return str(uuid.UUID(node)) == node
    except ValueError:
        return False


def token(**over) -> str:
    return mint(sub=MAIN, **over)


def q(tok: str | None = None, **params) -> str:
    if tok is not None:
        params["token"] = tok
    return urllib.parse.urlencode(params)


def node(jid: str) -> str:
    return jid.split("@", 1)[0]


def served_by_guest_mechanism(server, realm: str) -> int:
    return server.log().count(f"guest stand-in ANONYMOUS mechanism serving {realm}")


# ---------------------------------------------------------------------------
# Logins in each registration order


@pytest.mark.parametrize("kind", ["bosh", "ws"])
def test_token_guest_and_anonymous_logins_in_each_order(server, kind):
    before = served_by_guest_mechanism(server, MAIN)

    def login(domain, query):
        if kind == "bosh":
            return Bosh(server, domain, query=query).login()
        c = WS(server, domain, query=query)
        try:
            result = c.login()
            return result, c.jid
        finally:
            c.close()

    result, jid = login(MAIN, q(token(), room="r"))
    assert result.ok, result
    assert is_uuid(node(jid)) and jid.split("@")[1].startswith(MAIN + "/"), jid
    # The order is really the one asked for: the guest stand-in's mechanism served
    # the token host exactly when it registered last.
    served = served_by_guest_mechanism(server, MAIN) - before
    assert served == (1 if server.order == "guest-last" else 0), server.order

    result, _ = login(MAIN, q(mint(key="another secret that is just as long as the real one", sub=MAIN)))
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid signature")
    result, _ = login(MAIN, q())
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "token required")

    for domain in (GUEST, ANON):
        result, jid = login(domain, q())
        assert result.ok, (domain, result)
        assert is_uuid(node(jid)), jid
    # A guest host's provider drops a token a fresh guest brings along.
    result, jid = login(GUEST, q(token()))
    assert result.ok and is_uuid(node(jid)), (result, jid)


# ---------------------------------------------------------------------------
# XEP-0198 resumption over WebSocket with ?previd=


def enable_resumption(c: WS) -> str:
    c.send(f"<enable xmlns='{SM}' resume='true'/>")
    enabled = c.wait_for(lambda el: el.tag == f"{{{SM}}}enabled")
    assert enabled.get("resume") in ("true", "1"), ET.tostring(enabled)
    return enabled.get("id")


def own_jid(c: WS) -> str:
    """The full JID the server addresses this stream as (the `to` of a ping reply)."""
    pid = "ping-" + tag()
    c.send(f"<iq xmlns='jabber:client' type='get' id='{pid}' to='{c.domain}'><ping xmlns='urn:xmpp:ping'/></iq>")
    return c.wait_for(lambda el: el.tag == f"{{{CLIENT}}}iq" and el.get("id") == pid).get("to")


def drop(c: WS) -> None:
    c.ws.sock.close()  # no </close>: the network went away


def resume(server, domain: str, query_params: dict, previd: str):
    c = WS(server, domain, query=q(previd=previd, **query_params))
    c.open()
    result = c.auth()
    assert result.ok, result
    c.open()
    c.send(f"<resume xmlns='{SM}' h='0' previd='{previd}'/>")
    answer = c.wait_for(lambda el: el.tag in (f"{{{SM}}}resumed", f"{{{SM}}}failed"))
    return c, answer


@pytest.mark.parametrize("domain", [MAIN, GUEST])
def test_resumption_keeps_the_full_jid(server, domain):
    params = {"token": token()} if domain == MAIN else {}
    c = WS(server, domain, query=q(**params))
    assert c.login().ok
    first = c.jid
    previd = enable_resumption(c)
    drop(c)
    time.sleep(0.3)  # the server notices the lost stream (hibernation is logged at debug only)
    # A fresh token on reconnect, as a client does after reloading its token.
    if domain == MAIN:
        params = {"token": token()}
    c2, answer = resume(server, domain, params, previd)
    try:
        assert answer.tag == f"{{{SM}}}resumed", ET.tostring(answer)
        assert own_jid(c2) == first
    finally:
        c2.close()


@pytest.mark.parametrize("domain", [MAIN, GUEST])
def test_a_wrong_previd_gets_a_fresh_session(server, domain):
    params = {"token": token()} if domain == MAIN else {}
    other = WS(server, domain, query=q(**params))
    assert other.login().ok
    enable_resumption(other)
    c, answer = resume(server, domain, params, "not-a-resumption-token")
    try:
        assert answer.tag == f"{{{SM}}}failed", ET.tostring(answer)
        # The stream is already restarted after SASL: bind on it.
        c.send(f"<iq type='set' id='b2' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq>")
        bound = c.wait_for(lambda el: el.tag == f"{{{CLIENT}}}iq" and el.get("id") == "b2")
        jid = bound.findtext(f".//{{{BIND}}}jid")
        assert is_uuid(node(jid)) and node(jid) != node(other.jid), (jid, other.jid)
    finally:
        c.close()
        other.close()


# ---------------------------------------------------------------------------
# Events


def probe_records(server, mark: str) -> list[dict]:
    out = []
    for m in re.finditer(r"dropin-probe (\{.*\})$", server.log(), re.M):
        rec = json.loads(m.group(1))
        if rec.get("mark") == mark:
            out.append(rec)
    return out


def test_events_in_order_with_their_payloads(server):
    mark = "ev-" + tag()
    c = WS(server, MAIN, query=q(token(room=mark), room=mark))
    assert c.login().ok
    jid = c.jid
    c.close()
    server.wait_for_log(rf'"event":"jitsi-pre-session-unbind"[^\n]*{mark}|{mark}[^\n]*"event":"jitsi-pre-session-unbind"')
    recs = probe_records(server, mark)
    assert [r["event"] for r in recs] == [
        "pre-jitsi-authentication-fetch-key", "jitsi-authentication-token-verified", "jitsi-access-ban-check",
        "pre-jitsi-authentication", "post-jitsi-authentication", "jitsi-pre-session-unbind",
    ], recs
    assert recs[0]["has_token"] is True
    assert (recs[1]["iss"], recs[1]["sub"], recs[1]["room_field"]) == (APP_ID, MAIN, mark)
    assert recs[2]["domain"] == MAIN  # the ban check sees the verified session
    assert recs[5]["jid"] == jid and recs[5]["same_session"] is True


@pytest.mark.parametrize("kind", ["bosh", "ws"])
@pytest.mark.parametrize("point,reason", [
    ("refuse-pre-fetch", "probe refused before key fetch"),
    ("refuse-ban", "user is banned"),
    ("refuse-post", "probe refused after authentication"),
])
def test_refusing_handlers_give_a_clean_sasl_failure(server, kind, point, reason):
    room = f"{point}-{tag()}"
    query = q(token(room=room), room=room)
    if kind == "bosh":
        result, _ = Bosh(server, MAIN, query=query).login()
    else:
        c = WS(server, MAIN, query=query)
        result = c.login()
        c.close()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", reason)
    assert re.search(rf"warn\s.*Error verifying token err:not-allowed, reason:{reason} tenant:\S* room:{room} "
                     rf"kid:- iss:{APP_ID} sub:{MAIN} session:\S+", server.log()), server.log()[-3000:]


def test_username_from_pre_jitsi_authentication_is_the_bound_node(server):
    wanted = "chosen-" + tag()
    room = "custom-username-" + tag()
    result, jid = Bosh(server, MAIN, query=q(token(room=room), room=room, prefix=wanted)).login()
    assert result.ok, result
    assert node(jid) == wanted, jid


def test_refusal_log_lines_are_jitsis_and_never_carry_the_token(server):
    bad = mint(key="yet another secret, long enough for HMAC use", sub="tenant.example", iss="issuer-x",
               headers={"kid": "kid-7"})
    room = "logged-" + tag()
    result, _ = Bosh(server, MAIN, query=q(bad, room=room, prefix="acme")).login()
    assert not result.ok
    result, _ = Bosh(server, MAIN, query=q(room=room + "-none")).login()
    assert result.text == "token required"
    log = server.log()
    assert re.search(rf"warn\s.*Error verifying token err:not-allowed, reason:Invalid signature tenant:acme "
                     rf"room:{room} kid:kid-7 iss:issuer-x sub:tenant.example session:\S+", log), log[-3000:]
    assert re.search(rf"warn\s.*Error verifying token err:not-allowed, reason:token required tenant: "
                     rf"room:{room}-none kid:- iss:- sub:- session:\S+", log), log[-3000:]
    assert bad not in log and bad.split(".")[1] not in log


# ---------------------------------------------------------------------------
# Moderation without a token: muc#owner refused, muc#admin allowed


def join(c: WS, room_jid: str, nick: str) -> ET.Element:
    c.send(f"<presence xmlns='jabber:client' to='{room_jid}/{nick}'><x xmlns='{MUC}'/></presence>")
    return c.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}")


def iq(c: WS, room_jid: str, payload: str) -> ET.Element:
    iid = "iq-" + tag()
    c.send(f"<iq xmlns='jabber:client' type='set' id='{iid}' to='{room_jid}'>{payload}</iq>")
    return c.wait_for(lambda el: el.tag == f"{{{CLIENT}}}iq" and el.get("id") == iid)


def test_tokenless_moderator_may_kick_and_change_affiliations_but_not_configure(server):
    room = f"mod-{tag()}@{CONF}"
    owner, other = WS(server, GUEST), WS(server, GUEST)
    try:
        assert owner.login().ok and other.login().ok
        assert join(owner, room, "owner").get("type") is None
        assert join(other, room, "other").get("type") is None
        config = iq(owner, room, "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                    "type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
                    "</field></x></query>")
        assert config.get("type") == "error", ET.tostring(config)
        err = config.find(f"{{{CLIENT}}}error")
        assert err.find(f"{{{STANZAS}}}not-allowed") is not None and err.find(f"{{{JITMEET}}}token-required") is not None
        admin = "http://jabber.org/protocol/muc#admin"
        member = iq(owner, room, f"<query xmlns='{admin}'><item affiliation='member' jid='someone@{GUEST}'/></query>")
        assert member.get("type") == "result", ET.tostring(member)
        kick = iq(owner, room, f"<query xmlns='{admin}'><item nick='other' role='none'/></query>")
        assert kick.get("type") == "result", ET.tostring(kick)
    finally:
        owner.close()
        other.close()


# ---------------------------------------------------------------------------
# Metrics on /metrics


def delta(before: dict, after: dict, name: str, labels: str) -> float:
    key = f"{name}{{{labels}}}"
    return after.get(key, 0) - before.get(key, 0)


def test_metrics_count_each_kind_of_login(server, rsa_key):
    before = server.metrics()
    for _ in range(3):
        assert Bosh(server, MAIN, query=q(token())).login()[0].ok
    bad = mint(key="not the secret, but every bit as long as it", sub=MAIN)
    expired = token(exp=int(time.time()) - 120)
    for query in (q(bad), q(bad), q(), q(expired)):
        assert not Bosh(server, MAIN, query=query).login()[0].ok
    for point in ("refuse-ban", "refuse-pre-fetch", "refuse-post", "refuse-post"):
        room = f"{point}-{tag()}"
        assert not Bosh(server, MAIN, query=q(token(room=room), room=room)).login()[0].ok
    rs = jwt.encode(claims(sub=KEYS), rsa_key[0], algorithm="RS256", headers={"kid": RS_KID})
    for _ in range(2):
        assert Bosh(server, KEYS, query=q(rs)).login()[0].ok
    rs_nokeys = jwt.encode(claims(sub=NOKEYS), rsa_key[0], algorithm="RS256", headers={"kid": RS_KID})
    assert Bosh(server, NOKEYS, query=q(rs_nokeys)).login()[0].text == "could not obtain public key"
    after = server.metrics()

    main, keys = f'host="{MAIN}"', f'host="{KEYS}"'
    got = {n: delta(before, after, f"prosody_mod_auth_token__{n}_total", main)
           for n in ("success", "verify_fail", "ban", "pre_fetch_fail", "post_auth_fail")}
    assert got == {"success": 3, "verify_fail": 4, "ban": 1, "pre_fetch_fail": 1, "post_auth_fail": 2}, got
    refusals = "prosody_mod_auth_token__refusals_total"
    assert delta(before, after, refusals, f'{main},reason="Invalid signature"') == 2
    assert delta(before, after, refusals, f'{main},reason="token required"') == 1
    # "Not acceptable by exp (120 sec since expired)": one label value, whatever the number.
    assert delta(before, after, refusals, f'{main},reason="Not acceptable by exp"') == 1
    assert delta(before, after, refusals, f'{main},reason="user is banned"') == 1
    assert delta(before, after, refusals, f'{main},reason="probe refused after authentication"') == 2
    assert delta(before, after, "prosody_mod_auth_token__success_total", keys) == 2
    # The key host: one fetch, then one hit (the module-scoped server is fresh).
    assert delta(before, after, "prosody_mod_auth_token__key_fetch_seconds_count", f'{keys},outcome="ok"') == 1
    assert delta(before, after, "prosody_mod_auth_token__key_cache_hits_total", keys) == 1
    nokeys = f'host="{NOKEYS}"'
    assert delta(before, after, "prosody_mod_auth_token__key_fetch_seconds_count", f'{nokeys},outcome="failed"') == 1
    assert delta(before, after, "prosody_mod_auth_token__key_fetch_seconds_count", f'{nokeys},outcome="ok"') == 0
    assert delta(before, after, "prosody_mod_auth_token__verify_fail_total", nokeys) == 1
