"""The secure domain from one `configure` on Debian's Prosody: a scratch root laid out
as Jitsi's postinsts leave it (host file with the conference component, Jitsi Meet's
config.js and Jicofo's jicofo.conf), configured with --guest-domain,
--moderators-from-token and --allowlist, restarted by the tool itself. Guests log in
on the guest domain over BOSH and WebSocket and join a token user's room; moderators
come from the token; an allowlisted recorder joins without a token.

The recorder's VirtualHost here uses anonymous login (Jibri's real one has
accounts): what the room check looks at is the domain of the occupant's JID."""

import re
import shutil
import uuid
import xml.etree.ElementTree as ET

import jwt
import pytest

from harness import CLIENT, MUC, MUC_USER, REPO, STANZAS, WS, Bosh
from test_installer_support import DOMAIN, ScratchRoot

GUEST = f"guest.{DOMAIN}"
JIBRI = f"jibri.{DOMAIN}"  # not detected by name: it needs --allowlist
SECRET = "secure-domain-e2e-secret-0123456789"

HOST_FILE = f"""-- Jitsi-shaped host file for the secure-domain test (before jitsi-meet-tokens)
http_default_host = "{DOMAIN}"

VirtualHost "{DOMAIN}"
    authentication = "anonymous"
    modules_enabled = {{
        "bosh";
        "websocket";
        "ping";
    }}
    c2s_require_encryption = false
    main_muc = "conference.{DOMAIN}"

Component "conference.{DOMAIN}" "muc"
    modules_enabled = {{
        --"token_verification";
    }}
    muc_room_locking = false
"""

JIBRI_FILE = f"""VirtualHost "{JIBRI}"
    authentication = "anonymous"
    modules_enabled = {{
        "bosh";
        "websocket";
    }}
    c2s_require_encryption = false
"""


class Endpoints:
    """BOSH and WebSocket URLs of the scratch root's Prosody (what harness clients take)."""

    def __init__(self, s: ScratchRoot):
        self.bosh_url = s.bosh_url
        self.ws_url = f"ws://127.0.0.1:{s.http_port}/xmpp-websocket"


def enable(s: ScratchRoot, name: str, text: str) -> None:
    avail = s.root / f"etc/prosody/conf.avail/{name}.cfg.lua"
    avail.write_text(text)
    (s.root / f"etc/prosody/conf.d/{name}.cfg.lua").symlink_to(f"../conf.avail/{name}.cfg.lua")


def jitsi_files(s: ScratchRoot) -> None:
    web = REPO / "tests/fixtures/jitsi-web/etc/jitsi"
    for rel, dest in [("meet/meet.example.com-config.js", f"meet/{DOMAIN}-config.js"),
                      ("jicofo/jicofo.conf", "jicofo/jicofo.conf")]:
        target = s.root / "etc/jitsi" / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((web / rel).read_text().replace("meet.example.com", DOMAIN))


@pytest.fixture(scope="module")
def scratch():
    s = ScratchRoot()
    try:
        enable(s, DOMAIN, HOST_FILE)
        enable(s, JIBRI, JIBRI_FILE)
        jitsi_files(s)
        s.start()
        s.before = s.snapshot()
        s.web_before = {p: (s.root / p).read_bytes() for p in
                        (f"etc/jitsi/meet/{DOMAIN}-config.js", "etc/jitsi/jicofo/jicofo.conf")}
        yield s
    finally:
        s.cleanup()


def configure(s: ScratchRoot, *extra: str) -> dict:
    r, out = s.configure(SECRET, "--audiences", "jitsi", *extra)
    assert r.returncode == 0, (r.stdout, r.stderr, s.log_text()[-3000:])
    s.wait_http()
    return out


def token(room="*", **user) -> str:
    import time
    now = int(time.time())
    u = {"id": f"u-{uuid.uuid4().hex[:6]}", "name": "Example"}
    u.update(user)
    return jwt.encode({"iss": "myapp", "aud": "jitsi", "sub": DOMAIN, "room": room,
                       "exp": now + 600, "nbf": now - 10, "context": {"user": u}},
                      SECRET, algorithm="HS256")


def room() -> tuple[str, str]:
    name = f"room{uuid.uuid4().hex[:8]}"
    return name, f"{name}@conference.{DOMAIN}"


def ws_login(s, clients, domain, tok=None) -> WS:
    ws = WS(Endpoints(s), domain, tok)
    result = ws.login()
    assert result.ok, (result, s.log_text()[-2000:])
    clients.append(ws)
    return ws


def join(ws: WS, room_jid: str, nick: str) -> ET.Element:
    ws.send(f"<presence xmlns='jabber:client' to='{room_jid}/{nick}'><x xmlns='{MUC}'/></presence>")
    return ws.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}")


def item_of(presence: ET.Element) -> tuple[str, str]:
    assert presence.get("type") != "error", ET.tostring(presence)
    item = presence.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
    assert item is not None, ET.tostring(presence)
    return item.get("affiliation"), item.get("role")


def refused(presence: ET.Element) -> bool:
    return presence.get("type") == "error" and presence.find(f".//{{{STANZAS}}}not-allowed") is not None


def seen_by(observer: WS, room_jid: str, nick: str) -> tuple[str, str]:
    observer.send(f"<presence xmlns='jabber:client' to='{room_jid}/observer{uuid.uuid4().hex[:4]}'>"
                  f"<x xmlns='{MUC}'/></presence>")
    return item_of(observer.wait_for(
        lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}"))


def test_recorder_refused_until_allowlisted_then_the_whole_secure_domain(scratch, clients):
    # Token authentication alone: the recorder (no token) is refused by the room check.
    configure(scratch)
    name, r = room()
    boss = ws_login(scratch, clients, DOMAIN, token(moderator=True))
    assert item_of(join(boss, r, "boss"))[0] == "owner"  # Prosody's creator rule, option off
    jibri = ws_login(scratch, clients, JIBRI)
    assert refused(join(jibri, r, "jibri")), "a recorder without the allowlist is refused"

    out = configure(scratch, "--guest-domain", GUEST, "--moderators-from-token",
                    "--allowlist", JIBRI)
    assert out["changed"] is True and out["restart"] == "restarted", out
    assert f"/etc/prosody/conf.avail/{GUEST}.cfg.lua" in out["files"], out
    assert out["jicofo_restart"] == "skipped", out  # under --root: nothing outside it
    host = (scratch.root / f"etc/prosody/conf.avail/{DOMAIN}.cfg.lua").read_text()
    # recorder.meet.test came from jicofo.conf's trusted-domains on the first run.
    assert f'token_verification_allowlist = {{ "recorder.{DOMAIN}", "{GUEST}", "{JIBRI}" }}' in host, host
    js = (scratch.root / f"etc/jitsi/meet/{DOMAIN}-config.js").read_text()
    assert f"anonymousdomain: '{GUEST}'," in js
    jicofo = (scratch.root / "etc/jitsi/jicofo/jicofo.conf").read_text()
    assert re.search(r"authentication \{\s*enabled = true\s*type = JWT\s*login-url = \"meet.test\"", jicofo), jicofo
    assert "enable-auto-owner = false" in jicofo
    # A second run changes nothing and restarts nothing.
    pid = scratch.pid()
    again = configure(scratch)
    assert again["changed"] is False and again["restart"] == "none", again
    assert scratch.pid() == pid


def test_moderator_claim_makes_owner_others_members(scratch, clients):
    name, r = room()
    boss = ws_login(scratch, clients, DOMAIN, token(room=name, moderator=True))
    assert item_of(join(boss, r, "boss")) == ("owner", "moderator")
    plain = ws_login(scratch, clients, DOMAIN, token(room=name))
    assert item_of(join(plain, r, "plain")) == ("member", "participant")
    member = ws_login(scratch, clients, DOMAIN, token(room=name, affiliation="member"))
    assert item_of(join(member, r, "member")) == ("member", "participant")
    observer = ws_login(scratch, clients, DOMAIN, token(room=name))
    assert seen_by(observer, r, "boss") == ("owner", "moderator")
    # Room claims still hold for token users: another room's token is refused.
    other = ws_login(scratch, clients, DOMAIN, token(room="elsewhere"))
    assert refused(join(other, r, "other"))


def test_guest_over_websocket_joins_a_token_users_room(scratch, clients):
    name, r = room()
    boss = ws_login(scratch, clients, DOMAIN, token(room=name, moderator=True))
    join(boss, r, "boss")
    guest = ws_login(scratch, clients, GUEST)
    assert guest.jid.split("/")[0].endswith("@" + GUEST), guest.jid
    assert item_of(join(guest, r, "guest")) == ("none", "participant")


def test_guest_over_bosh_joins_a_token_users_room(scratch, clients):
    name, r = room()
    boss = ws_login(scratch, clients, DOMAIN, token(room=name, moderator=True))
    join(boss, r, "boss")
    b = Bosh(Endpoints(scratch), GUEST, None, headers={"Host": DOMAIN})
    b.open()
    result = b.auth()
    jid = b.bind() if result.ok else None
    assert result.ok and jid.split("/")[0].endswith("@" + GUEST), (result, jid)
    body = b.post(f"<body rid='{b.next_rid()}' sid='{b.sid}' xmlns='http://jabber.org/protocol/httpbind'>"
                  f"<presence xmlns='jabber:client' to='{r}/bosh-guest'><x xmlns='{MUC}'/></presence></body>")
    for _ in range(5):
        own = [p for p in body.iter(f"{{{CLIENT}}}presence") if p.get("from") == f"{r}/bosh-guest"]
        if own:
            break
        body = b.post(f"<body rid='{b.next_rid()}' sid='{b.sid}' xmlns='http://jabber.org/protocol/httpbind'/>")
    assert own, ET.tostring(body)
    assert item_of(own[0]) == ("none", "participant")
    b.terminate()


def test_guest_alone_is_not_made_moderator(scratch, clients):
    name, r = room()
    guest = ws_login(scratch, clients, GUEST)
    affiliation, role = item_of(join(guest, r, "lonely-guest"))
    assert (affiliation, role) != ("owner", "moderator") and role != "moderator", (affiliation, role)


def test_allowlisted_recorder_joins_a_token_checked_room(scratch, clients):
    name, r = room()
    boss = ws_login(scratch, clients, DOMAIN, token(room=name, moderator=True))
    join(boss, r, "boss")
    jibri = ws_login(scratch, clients, JIBRI)
    assert item_of(join(jibri, r, "jibri"))[1] == "participant"


def test_zz_unconfigure_restores_every_file(scratch):
    r, out = scratch.unconfigure()
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert scratch.snapshot().keys() == scratch.before.keys()
    for k, (content, _) in scratch.before.items():
        assert scratch.snapshot()[k][0] == content, k
    for p, content in scratch.web_before.items():
        assert (scratch.root / p).read_bytes() == content, p
