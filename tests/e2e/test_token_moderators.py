"""Moderators from the token (token_verification_moderators_from_token) on
Debian's Prosody: the affiliations other occupants see, over WebSocket."""

import uuid

import pytest

from harness import APP_ID, CLIENT, MUC, MUC_USER, SECRET, WS, Prosody, mint

HOSTS = f"""
VirtualHost "mods.test"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}

Component "conference.mods.test" "muc"
    modules_enabled = {{ "token_verification" }}
    token_verification_moderators_from_token = true
    token_verification_allowlist = {{ "guest.mods.test" }}
    muc_room_locking = false

VirtualHost "guest.mods.test"
    authentication = "anonymous"

VirtualHost "off.test"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}

Component "conference.off.test" "muc"
    modules_enabled = {{ "token_verification" }}
    muc_room_locking = false
"""


@pytest.fixture(scope="module")
def server():
    prosody = Prosody(HOSTS)
    try:
        prosody.start()
        yield prosody
    finally:
        prosody.stop()
    log = prosody.log()
    prosody.cleanup()
    assert "Traceback" not in log, log[-8000:]


def user(**extra):
    u = {"id": f"u-{uuid.uuid4().hex[:6]}", "name": "Example"}
    u.update(extra)
    return u


def token(domain, **user_claims):
    return mint(sub=domain, context={"user": user(**user_claims)})


def connect(server, clients, domain, tok):
    ws = WS(server, domain, tok)
    result = ws.login()
    assert result.ok, result
    clients.append(ws)
    return ws


def item_of(presence):
    item = presence.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
    assert item is not None, presence
    return item.get("affiliation"), item.get("role")


def join(ws, room_jid, nick):
    ws.send(f"<presence xmlns='jabber:client' to='{room_jid}/{nick}'><x xmlns='{MUC}'/></presence>")
    own = ws.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}")
    assert own.get("type") != "error", own
    return own


def seen_by_observer(server, clients, domain, room_jid, nick, tok, observer_tok=None):
    """(affiliation, role) of `nick` as a second occupant who joins after it sees it."""
    subject = connect(server, clients, domain, tok)
    join(subject, room_jid, nick)
    observer = connect(server, clients, domain, observer_tok or token(domain))
    observer.send(f"<presence xmlns='jabber:client' to='{room_jid}/observer'><x xmlns='{MUC}'/></presence>")
    seen = observer.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}")
    return item_of(seen)


def room(domain):
    return f"room{uuid.uuid4().hex[:8]}@conference.{domain}"


@pytest.mark.parametrize("claims", [{"moderator": True}, {"moderator": "true"},
                                    {"affiliation": "owner"}, {"affiliation": "moderator"},
                                    {"affiliation": "teacher"}])
def test_moderator_claim_creator_is_owner(server, clients, claims):
    assert seen_by_observer(server, clients, "mods.test", room("mods.test"), "boss",
                            token("mods.test", **claims)) == ("owner", "moderator")


@pytest.mark.parametrize("claims", [{}, {"moderator": False}, {"moderator": "false"},
                                    {"affiliation": "member"}])
def test_other_tokens_are_members_even_as_creator(server, clients, claims):
    assert seen_by_observer(server, clients, "mods.test", room("mods.test"), "someone",
                            token("mods.test", **claims)) == ("member", "participant")


def test_later_token_users_follow_their_claim(server, clients):
    r = room("mods.test")
    first = connect(server, clients, "mods.test", token("mods.test"))
    assert item_of(join(first, r, "first")) == ("member", "participant")
    boss = connect(server, clients, "mods.test", token("mods.test", moderator=True))
    assert item_of(join(boss, r, "boss")) == ("owner", "moderator")
    # The first occupant is told too.
    seen = first.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{r}/boss")
    assert item_of(seen) == ("owner", "moderator")


def test_guest_is_left_alone(server, clients):
    r = room("mods.test")
    join(connect(server, clients, "mods.test", token("mods.test", moderator=True)), r, "boss")
    guest = connect(server, clients, "guest.mods.test", None)
    assert item_of(join(guest, r, "guest")) == ("none", "participant")


def test_option_off_keeps_prosody_defaults(server, clients):
    r = room("off.test")
    # Prosody makes the creator owner whatever the token says; the claim gives nothing.
    assert seen_by_observer(server, clients, "off.test", r, "creator", token("off.test")) == ("owner", "moderator")
    later = connect(server, clients, "off.test", token("off.test", moderator=True))
    assert item_of(join(later, r, "later")) == ("none", "participant")


def test_an_owner_by_token_is_not_held_by_a_members_only_room(server, clients):
    """Jitsi's lobby makes the room members-only and sends whoever that refuses to
    the lobby: an owner by token gets in, a guest is refused (to the lobby)."""
    r = room("mods.test")
    boss = connect(server, clients, "mods.test", token("mods.test", moderator=True))
    join(boss, r, "boss")
    boss.send(f"<iq xmlns='jabber:client' type='set' to='{r}' id='lobby1'>"
              "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
              "<field var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>")
    answer = boss.wait_for(lambda el: el.tag == f"{{{CLIENT}}}iq" and el.get("id") == "lobby1")
    assert answer.get("type") == "result", answer
    guest = connect(server, clients, "guest.mods.test", None)
    guest.send(f"<presence xmlns='jabber:client' to='{r}/guest'><x xmlns='{MUC}'/></presence>")
    refused = guest.wait_for(lambda el: el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{r}/guest")
    assert refused.get("type") == "error", refused
    assert refused.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}registration-required") is not None
    other = connect(server, clients, "mods.test", token("mods.test", affiliation="owner"))
    assert item_of(join(other, r, "other")) == ("owner", "moderator")
