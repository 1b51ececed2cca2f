-- Room check for token users on the conference MUC component.
--
-- Runs on room creation and on every join: the room must match the token's `room`
-- claim (and `sub`/tenant when domain verification is on). Options come from the
-- parent VirtualHost (the component domain without its first label).

local st = require "util.stanza";
local jid = require "util.jid";
local um = require "core.usermanager";

-- Prosody 13 replaced is_admin() with roles: there it logs a warning with a
-- traceback on every call, and returns false under strict_deprecate_is_admin
-- (which would subject Jicofo to the room check). 0.11/0.12 have no get_jid_role.
local legacy_admin_roles = { ["prosody:admin"] = true, ["prosody:operator"] = true };
local function is_admin(jid, host)
	if um.get_jid_role then
		local role = um.get_jid_role(jid, host);
		return role ~= nil and legacy_admin_roles[role.name] == true;
	end
	return um.is_admin(jid, host);
end

local parent_host = module.host:gsub("^[^.]+%.", "");
local parent = module:context(parent_host);

local allow_empty_token = parent:get_option_boolean("allow_empty_token", false);
local domain_verification = parent:get_option_boolean("enable_domain_verification", true);
local muc_domain_base = parent:get_option_string("muc_mapper_domain_base");
local muc_domain_prefix = parent:get_option_string("muc_mapper_domain_prefix", "conference");
local muc_domain = parent:get_option_string("muc_mapper_domain",
	muc_domain_base and (muc_domain_prefix .. "." .. muc_domain_base) or module.host);
local allowlist = module:get_option_set("token_verification_allowlist", {});

local JITMEET = "http://jitsi.org/jitmeet";
local MISMATCH = "Room and token mismatched";

-- A Lua pattern that must cover the whole room name; errors (malformed pattern)
-- are the caller's to report.
local function matches_whole(name, pattern)
	local s, e = name:find(pattern);
	return s == 1 and e == #name;
end

-- Returns true, or false plus the jitmeet error code and a text.
local function check_room(session, room_address)
	local node = jid.split(room_address);
	if not node or node == "" then return false, "invalid-room-address", "Invalid room address"; end

	if session.auth_token == nil and allow_empty_token then return true; end

	local claim = session.jitsi_meet_room;
	if type(claim) ~= "string" then claim = nil; end
	local room_claim = claim and claim:lower();

	if not domain_verification then
		if room_claim and room_claim ~= "*" and node ~= room_claim
			and node:sub(-(#room_claim + 1)) ~= "]" .. room_claim then
			return false, "room-mismatch", MISMATCH;
		end
		return true;
	end

	if not room_claim then return false, "room-mismatch", MISMATCH; end

	local tenant, room_name = node:match("^%[([^%]]+)%](.+)$");
	room_name = room_name or node;

	if room_claim ~= "*" then
		local context_room = session.jitsi_meet_context_room;
		local regex = type(context_room) == "table"
			and (context_room.regex == true or context_room.regex == "true");
		if regex then
			-- Patterns are used as written (lowercasing would turn %W into %w).
			local ok, matched = pcall(matches_whole, room_name, claim);
			if not ok then return false, "invalid-regex", "Invalid room name pattern in token"; end
			if not matched then return false, "room-name-does-not-match", MISMATCH; end
		elseif room_name ~= room_claim then
			return false, "room-name-does-not-match", MISMATCH;
		end
	end

	local sub = session.jitsi_meet_domain;
	if type(sub) ~= "string" then return false, "room-mismatch", MISMATCH; end
	sub = sub:lower();
	local expected;
	if tenant then
		if not muc_domain_base then
			module:log("warn", "Tenant room %s refused: muc_mapper_domain_base is not set", room_address);
			return false, "server-missing-config", "Server is missing configuration for tenant rooms";
		end
		expected = jid.join("[" .. (sub == "*" and tenant or sub) .. "]" .. room_name, muc_domain);
	else
		expected = jid.join(room_name, sub == "*" and muc_domain or (muc_domain_prefix .. "." .. sub));
	end
	if jid.bare(room_address) ~= expected then return false, "room-mismatch", MISMATCH; end
	return true;
end

local function on_join(event)
	local origin, stanza, room = event.origin, event.stanza, event.room;
	local from = stanza.attr.from;
	if from and is_admin(from, module.host) then return; end
	local bare = from and jid.bare(from);
	local _, domain = jid.split(from);
	if (bare and allowlist:contains(bare)) or (domain and allowlist:contains(domain)) then return; end

	local ok, allowed, code, text = pcall(check_room, origin or {}, room.jid);
	if not ok then
		module:log("error", "Room check failed for %s: %s", room.jid, tostring(allowed));
		allowed, code, text = false, "internal-error", MISMATCH;
	end
	if allowed then return; end
	module:log("info", "Refused %s in %s: %s (room=%s sub=%s)", tostring(from), room.jid, code,
		tostring(origin and origin.jitsi_meet_room), tostring(origin and origin.jitsi_meet_domain));
	local reply = st.error_reply(stanza, "cancel", "not-allowed", text or MISMATCH);
	reply:tag(code, { xmlns = JITMEET }):up();
	if origin and origin.send then origin.send(reply); end
	return true;
end

module:hook("muc-room-pre-create", on_join, 99);
module:hook("muc-occupant-pre-join", on_join, 99);

-- token_verification_require_token_for_moderation: room configuration and
-- affiliation/role changes need a session that logged in with a token.
if module:get_option_boolean("token_verification_require_token_for_moderation", false) then
	local function require_token(event)
		local origin, stanza = event.origin, event.stanza;
		local from = stanza.attr.from;
		if (from and is_admin(from, module.host)) or (origin and origin.auth_token) then return; end
		origin.send(st.error_reply(stanza, "cancel", "not-allowed", "Moderation requires a token")
			:tag("token-required", { xmlns = JITMEET }):up());
		return true;
	end
	module:hook("iq-set/bare/http://jabber.org/protocol/muc#owner:query", require_token, 99);
	module:hook("iq-set/bare/http://jabber.org/protocol/muc#admin:query", require_token, 99);
end

-- token_verification_moderators_from_token: the token decides a token user's
-- affiliation on join (owner or member); sessions without a token are left alone.
if module:get_option_boolean("token_verification_moderators_from_token", false) then
	local owner_affiliations = { owner = true, moderator = true, teacher = true };

	local function token_affiliation(session)
		local user = session.jitsi_meet_context_user;
		if type(user) ~= "table" then return "member"; end
		if user.moderator == true or user.moderator == "true" then return "owner"; end
		if owner_affiliations[user.affiliation] then return "owner"; end
		return "member";
	end

	-- After the room check (99) and before members-only (-5) and Jitsi's lobby,
	-- so an owner by token is let in; the role is set here because the
	-- occupant's default role was computed before this event.
	module:hook("muc-occupant-pre-join", function(event)
		local origin, room, occupant = event.origin, event.room, event.occupant;
		if not (origin and origin.auth_token) then return; end
		local bare = jid.bare(event.stanza.attr.from);
		local current = room:get_affiliation(bare);
		if current == "outcast" then return; end -- a ban outranks the token
		local affiliation = token_affiliation(origin);
		if current ~= affiliation then
			local ok, _, condition = room:set_affiliation(true, bare, affiliation);
			if not ok then
				module:log("warn", "Could not make %s %s in %s: %s", bare, affiliation, room.jid, tostring(condition));
				return;
			end
		end
		occupant.role = room:get_default_role(affiliation);
	end, 10);
end
