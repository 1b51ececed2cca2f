-- Identity from the token in presence (VirtualHost module).
--
-- Every presence a local client sends loses any <identity> the client wrote
-- (anti-spoofing) and, when the session logged in with a token carrying a context
-- user, gets <identity><user><KEY>VALUE</KEY>...</user><group>G</group></identity>.

-- Keys become element names: only plain XML names pass (no spaces, no colons).
local function is_xml_name(k)
	return type(k) == "string" and k:match("^[%a_][%w_%.%-]*$") ~= nil;
end

local function scalar_text(v)
	local t = type(v);
	if t == "string" then return v; end
	if t == "number" or t == "boolean" then return tostring(v); end
	return nil; -- nested tables have no text form
end

local function add_identity(stanza, user, group)
	local keys = {};
	for k, v in pairs(user) do
		if is_xml_name(k) and scalar_text(v) then keys[#keys + 1] = k; end
	end
	table.sort(keys);
	stanza:tag("identity"):tag("user");
	for _, k in ipairs(keys) do
		stanza:text_tag(k, scalar_text(user[k]));
	end
	stanza:up();
	if type(group) == "string" then stanza:text_tag("group", group); end
	stanza:up();
end

local function on_presence(event)
	local session, stanza = event.origin, event.stanza;
	if not session or session.type ~= "c2s" then return; end
	stanza:reset();
	stanza:maptags(function(tag)
		if tag.name == "identity" then return nil; end
		return tag;
	end);
	local user = session.jitsi_meet_context_user;
	if type(user) == "table" then
		local ok, err = pcall(add_identity, stanza, user, session.jitsi_meet_context_group);
		if not ok then
			module:log("warn", "Could not add identity for %s: %s", tostring(session.full_jid), tostring(err));
		end
		stanza:reset();
	end
end

module:hook("pre-presence/bare", on_presence);
module:hook("pre-presence/full", on_presence);
module:hook("pre-presence/host", on_presence);
