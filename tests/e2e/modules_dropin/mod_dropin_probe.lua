-- Test module: records every event Jitsi's token module fires (one log line each,
-- JSON) and, driven by the session's `room` query parameter, refuses or renames
-- at the points other Jitsi modules do. Load it on one host only: it hooks globally.

local json = require "util.json";

local function mark(session)
	return type(session) == "table" and session.jitsi_web_query_room or nil;
end

local function record(name, fields)
	fields.event = name;
	module:log("info", "dropin-probe %s", json.encode(fields));
end

local function wants(session, what)
	local room = mark(session);
	return type(room) == "string" and room:sub(1, #what) == what;
end

module:hook_global("pre-jitsi-authentication-fetch-key", function(session)
	record("pre-jitsi-authentication-fetch-key", { mark = mark(session), has_token = session.auth_token ~= nil });
	if wants(session, "refuse-pre-fetch") then
		return { res = false, error = "not-allowed", reason = "probe refused before key fetch" };
	end
end);

module:hook_global("jitsi-authentication-token-verified", function(event)
	record("jitsi-authentication-token-verified", { mark = mark(event.session), iss = event.claims.iss,
		sub = event.claims.sub, room_field = event.session.jitsi_meet_room });
end);

module:hook_global("jitsi-access-ban-check", function(session)
	record("jitsi-access-ban-check", { mark = mark(session), domain = session.jitsi_meet_domain });
	if wants(session, "refuse-ban") then return false; end
end);

module:hook_global("pre-jitsi-authentication", function(session)
	record("pre-jitsi-authentication", { mark = mark(session) });
	if wants(session, "custom-username") then return session.jitsi_web_query_prefix; end
end);

module:hook_global("post-jitsi-authentication", function(session)
	record("post-jitsi-authentication", { mark = mark(session) });
	if wants(session, "refuse-post") then
		return { res = false, error = "not-allowed", reason = "probe refused after authentication" };
	end
end);

module:hook_global("jitsi-pre-session-unbind", function(event)
	record("jitsi-pre-session-unbind", { mark = mark(event.session), jid = event.jid,
		same_session = event.session ~= nil and event.session.full_jid == event.jid });
end);
