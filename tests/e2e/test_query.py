"""The request parameters mod_auth_token keeps on the session (`token`, `room`,
`prefix`, `previd`, `customusername`), read back from a real Prosody through a
probe module that answers an IQ with the session's fields."""

import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from harness import APP_ID, PLUGINS, SECRET, Bosh, Prosody, lua_string, mint

PROBE_NS = "urn:jmt:test:session"

PROBE = r"""
local st = require "util.stanza";
module:hook("iq-get/host/urn:jmt:test:session:query", function(event)
	local s = event.origin;
	s.send(st.reply(event.stanza):tag("query", {
		xmlns = "urn:jmt:test:session";
		room = s.jitsi_web_query_room;
		prefix = s.jitsi_web_query_prefix;
		previd = s.previd;
		customusername = s.customusername;
		token = s.auth_token;
	}));
	return true;
end);
"""


@pytest.fixture(scope="module")
def prosody():
    server = Prosody(f"""
VirtualHost "meet.test"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    modules_enabled = {{ "jmt_session_probe" }}
""")
    probe_dir = server.dir / "probe"
    probe_dir.mkdir()
    (probe_dir / "mod_jmt_session_probe.lua").write_text(PROBE)
    server.global_config = f"plugin_paths = {{ {lua_string(str(PLUGINS))}, {lua_string(str(probe_dir))} }}"
    server.start()
    yield server
    server.stop()
    assert "Traceback" not in server.log()
    server.cleanup()


def session_fields(prosody, query: str) -> dict:
    bosh = Bosh(prosody, "meet.test", query=query)
    bosh.open()
    assert bosh.auth().ok
    bosh.bind()
    body = bosh.post(
        f"<body rid='{bosh.next_rid()}' sid='{bosh.sid}' xmlns='http://jabber.org/protocol/httpbind'>"
        f"<iq type='get' id='q1' to='meet.test' xmlns='jabber:client'><query xmlns='{PROBE_NS}'/></iq></body>"
    )
    bosh.terminate()
    found = body.find(f".//{{{PROBE_NS}}}query")
    assert found is not None, ET.tostring(body)
    return dict(found.attrib)


def test_parameters_are_decoded_like_a_form(prosody):
    token = mint()
    query = ("token=" + urllib.parse.quote(token, safe="") + "&room=Weekly%20Sync"
             "&prefix=a+b&previd=p-1&customusername=%C3%A9t%C3%A9&other=x")
    assert session_fields(prosody, query) == {
        "token": token, "room": "Weekly Sync", "prefix": "a b", "previd": "p-1",
        "customusername": "été",
    }


def test_last_repeated_parameter_wins_and_prefix_defaults_to_empty(prosody):
    token = mint()
    fields = session_fields(prosody, f"room=first&xtoken=nope&token={token}&room=second")
    assert fields == {"token": token, "room": "second", "prefix": ""}


def test_an_escaped_parameter_name_is_decoded(prosody):
    token = mint()
    fields = session_fields(prosody, f"t%6Fken={token}")
    assert fields["token"] == token
