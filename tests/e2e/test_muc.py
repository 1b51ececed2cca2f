"""Room checks on MUC join (token_verification) and identity in presence
(presence_identity), over real WebSocket sessions."""

import uuid
import xml.etree.ElementTree as ET

from harness import CLIENT, JITMEET, MUC, MUC_USER, STANZAS, WS, mint

CONF = "conference.meet.test"


def connect(prosody, token, domain="meet.test"):
    ws = WS(prosody, domain, token)
    result = ws.login()
    assert result.ok, result
    return ws


def unique(prefix="room"):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def join(ws, room_jid, nick, extra=""):
    """Send a join presence; return the answer addressed to our own occupant JID."""
    ws.send(f"<presence xmlns='jabber:client' to='{room_jid}/{nick}'><x xmlns='{MUC}'/>{extra}</presence>")

    def mine(el):
        return el.tag == f"{{{CLIENT}}}presence" and el.get("from") == f"{room_jid}/{nick}"

    return ws.wait_for(mine)


def joined(presence) -> bool:
    return presence.get("type") != "error" and any(
        s.get("code") == "110" for s in presence.iter(f"{{{MUC_USER}}}status")
    )


def refusal(presence):
    """(condition, text, jitmeet code) of an error presence."""
    assert presence.get("type") == "error", ET.tostring(presence)
    err = presence.find(f"{{{CLIENT}}}error")
    assert err is not None and err.get("type") == "cancel", ET.tostring(presence)
    cond = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{STANZAS}}}") and not c.tag.endswith("}text")]
    text = err.find(f"{{{STANZAS}}}text")
    codes = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{JITMEET}}}")]
    return cond, text.text if text is not None else None, codes


def test_join_allowed_for_matching_room(prosody, clients):
    room = unique()
    ws = connect(prosody, mint(room=room))
    clients.append(ws)
    assert joined(join(ws, f"{room}@{CONF}", "alice"))


def test_room_claim_is_compared_lowercased(prosody, clients):
    room = unique()
    ws = connect(prosody, mint(room=room.upper()))
    clients.append(ws)
    assert joined(join(ws, f"{room}@{CONF}", "alice"))


def test_join_refused_for_mismatch_with_jitmeet_element(prosody, clients):
    ws = connect(prosody, mint(room=unique()))
    clients.append(ws)
    cond, text, codes = refusal(join(ws, f"{unique()}@{CONF}", "alice"))
    assert cond == ["not-allowed"]
    assert text == "Room and token mismatched"
    assert codes == ["room-name-does-not-match"]


def test_join_into_existing_room_is_checked_too(prosody, clients):
    room = unique()
    owner = connect(prosody, mint(room=room))
    other = connect(prosody, mint(room=unique()))
    clients += [owner, other]
    assert joined(join(owner, f"{room}@{CONF}", "owner"))
    cond, _, codes = refusal(join(other, f"{room}@{CONF}", "intruder"))
    assert cond == ["not-allowed"] and codes == ["room-name-does-not-match"]


def test_wildcard_room_claim(prosody, clients):
    ws = connect(prosody, mint(room="*"))
    clients.append(ws)
    assert joined(join(ws, f"{unique()}@{CONF}", "alice"))
    assert joined(join(ws, f"{unique()}@{CONF}", "alice"))


def test_sub_must_match_the_muc_domain(prosody, clients):
    ws = connect(prosody, mint(room="*", sub="other.example"))
    clients.append(ws)
    _, _, codes = refusal(join(ws, f"{unique()}@{CONF}", "alice"))
    assert codes == ["room-mismatch"]


def test_tenant_room(prosody, clients):
    room = unique()
    ws = connect(prosody, mint(room=room, sub="acme"))
    clients.append(ws)
    assert joined(join(ws, f"[acme]{room}@{CONF}", "alice"))
    _, _, codes = refusal(join(ws, f"[other]{room}@{CONF}", "alice"))
    assert codes == ["room-mismatch"]


def test_tenant_room_with_wildcard_sub(prosody, clients):
    room = unique()
    ws = connect(prosody, mint(room=room, sub="*"))
    clients.append(ws)
    assert joined(join(ws, f"[anyone]{room}@{CONF}", "alice"))


def test_room_regex(prosody, clients):
    ws = connect(prosody, mint(room="team%-%d+", context={"room": {"regex": True}, "user": {"id": "r"}}))
    clients.append(ws)
    assert joined(join(ws, f"team-{uuid.uuid4().int % 10**6}@{CONF}", "alice"))
    _, _, codes = refusal(join(ws, f"team-x@{CONF}", "alice"))
    assert codes == ["room-name-does-not-match"]
    bad = connect(prosody, mint(room="team[", context={"room": {"regex": "true"}}))
    clients.append(bad)
    _, _, codes = refusal(join(bad, f"team-1@{CONF}", "alice"))
    assert codes == ["invalid-regex"]


def test_identity_from_token_and_client_identity_stripped(prosody, clients):
    room = unique()
    alice = connect(prosody, mint(room=room, context={
        "user": {"id": "a-1", "name": "Alice Token", "email": "alice@example.com",
                 "moderator": True, "bad key": "skipped", "nested": {"x": 1}, "nothing": None},
        "group": "team-a",
    }))
    bob = connect(prosody, mint(room=room, context={"user": {"id": "b-1", "name": "Bob"}}))
    clients += [alice, bob]
    spoof = "<identity><user><name>Mallory</name><id>evil</id></user><group>root</group></identity>"
    assert joined(join(alice, f"{room}@{CONF}", "alice", extra=spoof))
    join(bob, f"{room}@{CONF}", "bob")

    def alice_presence(el):
        return el.get("from") == f"{room}@{CONF}/alice" and el.tag == f"{{{CLIENT}}}presence"

    seen = bob.wait_for(alice_presence)
    identities = seen.findall(f"{{{CLIENT}}}identity")
    assert len(identities) == 1, ET.tostring(seen)
    user = identities[0].find(f"{{{CLIENT}}}user")
    fields = {c.tag.split("}")[1]: c.text for c in user}
    assert fields == {"id": "a-1", "name": "Alice Token", "email": "alice@example.com", "moderator": "true"}
    assert identities[0].find(f"{{{CLIENT}}}group").text == "team-a"
    assert b"Mallory" not in ET.tostring(seen) and b"root" not in ET.tostring(seen)


def test_identity_stripped_for_user_without_context(prosody, clients):
    room = unique()
    plain = connect(prosody, mint(room=room, context=None))
    watcher = connect(prosody, mint(room=room))
    clients += [plain, watcher]
    spoof = "<identity><user><name>Mallory</name></user></identity>"
    assert joined(join(plain, f"{room}@{CONF}", "plain", extra=spoof))
    join(watcher, f"{room}@{CONF}", "watcher")
    seen = watcher.wait_for(lambda el: el.get("from") == f"{room}@{CONF}/plain")
    assert seen.find(f"{{{CLIENT}}}identity") is None, ET.tostring(seen)


def test_user_id_fallback_identity(prosody, clients):
    room = unique()
    legacy = connect(prosody, mint(room=room, context=None, user_id="legacy-42"))
    watcher = connect(prosody, mint(room=room))
    clients += [legacy, watcher]
    assert joined(join(legacy, f"{room}@{CONF}", "legacy"))
    join(watcher, f"{room}@{CONF}", "watcher")
    seen = watcher.wait_for(lambda el: el.get("from") == f"{room}@{CONF}/legacy")
    user = seen.find(f"{{{CLIENT}}}identity/{{{CLIENT}}}user")
    assert {c.tag.split("}")[1]: c.text for c in user} == {"id": "legacy-42"}


def test_guest_without_token_is_refused_unless_allowlisted(prosody, clients):
    # empty.test lets guests log in without a token, but the conference's parent
    # host (meet.test) does not allow empty tokens: no room claim, no room.
    guest = connect(prosody, None, domain="empty.test")
    clients.append(guest)
    _, _, codes = refusal(join(guest, f"{unique()}@{CONF}", "guest"))
    assert codes == ["room-mismatch"]
    # anon.test is in token_verification_allowlist.
    allowed = connect(prosody, None, domain="anon.test")
    clients.append(allowed)
    assert joined(join(allowed, f"{unique()}@{CONF}", "anon"))


CONFIG_FORM = (
    "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
    "<field var='muc#roomconfig_roomname'><value>Renamed</value></field></x></query>"
)


def configure_room(ws, room_jid):
    ws.send(f"<iq xmlns='jabber:client' type='set' id='cfg1' to='{room_jid}'>{CONFIG_FORM}</iq>")
    return ws.wait_for(lambda el: el.tag == f"{{{CLIENT}}}iq" and el.get("id") == "cfg1")


def test_moderation_requires_a_token_when_configured(prosody, clients):
    # conference.empty.test: parent allows guests, component requires a token to moderate.
    room = f"{unique()}@conference.empty.test"
    guest = connect(prosody, None, domain="empty.test")
    clients.append(guest)
    assert joined(join(guest, room, "guest"))
    answer = configure_room(guest, room)
    assert answer.get("type") == "error", ET.tostring(answer)
    err = answer.find(f"{{{CLIENT}}}error")
    assert err.find(f"{{{STANZAS}}}not-allowed") is not None
    assert err.find(f"{{{JITMEET}}}token-required") is not None

    room2 = f"{unique()}@conference.empty.test"
    owner = connect(prosody, mint(room="*", sub="empty.test"), domain="empty.test")
    clients.append(owner)
    assert joined(join(owner, room2, "owner"))
    answer = configure_room(owner, room2)
    assert answer.get("type") == "result", ET.tostring(answer)
