-- Room check for token users on the conference MUC component.
--
-- Runs on room creation and on every join: the room must match the token's `room`
-- claim (and `sub`/tenant when domain verification is on). Options come from the
-- parent VirtualHost (the component domain without its first label).

local st = require "util.stanza";
local set = require "util.set";
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

local JITMEET = "http://jitsi.org/jitmeet";
local MISMATCH = "Room and token mismatched";

-- The rule itself (room, sub, tenant, pattern rooms and their bounds, the MUC domain)
-- is the verifier crate's, so `token verify --join` judges as this component does;
-- the options' names, types and defaults are its option table.
-- Without the native module every join is refused: no room check, no room.
local room_rule;
local options = {}; -- this component's own options; empty when they cannot be read
do
	local ok, jt = pcall(require, "jitsi_tokens");
	if not ok then
		module:log("error", "Room check disabled, every join refused: the native module "
			.. "jitsi_tokens could not be loaded for %s: %s", _VERSION, tostring(jt));
	else
		local rule_options, why = jt.read_options(function(name) return parent:get_option(name); end,
			"room_rule");
		local own, own_why = jt.read_options(function(name) return module:get_option(name); end,
			"room_plugin");
		local made, rule = false, why or own_why;
		if rule_options and own then made, rule = pcall(jt.room_rule, module.host, rule_options); end
		if made then
			room_rule, options = rule, own;
		else
			module:log("error", "Room check disabled, every join refused: %s", tostring(rule));
		end
	end
end
local allowlist = set.new(options.token_verification_allowlist or {});

-- Returns true, or false plus the jitmeet error code and a text; then why.
local function check_room(session, room_address)
	if not room_rule then return false, "internal-error", MISMATCH, "no room check"; end
	return room_rule:check(room_address, session.auth_token ~= nil, session.jitsi_meet_room,
		session.jitsi_meet_domain, session.jitsi_meet_context_room);
end

local function on_join(event)
	local origin, stanza, room = event.origin, event.stanza, event.room;
	local from = stanza.attr.from;
	if from and is_admin(from, module.host) then return; end
	local bare = from and jid.bare(from);
	local _, domain = jid.split(from);
	if (bare and allowlist:contains(bare)) or (domain and allowlist:contains(domain)) then return; end

	local ok, allowed, code, text, why = pcall(check_room, origin or {}, room.jid);
	if not ok then
		module:log("error", "Room check failed for %s: %s", room.jid, tostring(allowed));
		allowed, code, text = false, "internal-error", MISMATCH;
	end
	if allowed then return; end
	module:log("info", "Refused %s in %s: %s (%s)", tostring(from), room.jid, code, tostring(why));
	local reply = st.error_reply(stanza, "cancel", "not-allowed", text or MISMATCH);
	reply:tag(code, { xmlns = JITMEET }):up();
	if origin and origin.send then origin.send(reply); end
	return true;
end

module:hook("muc-room-pre-create", on_join, 99);
module:hook("muc-occupant-pre-join", on_join, 99);

-- token_verification_require_token_for_moderation: room configuration (muc#owner)
-- needs a session that logged in with a token. Kicks, roles and affiliations
-- (muc#admin) stay open to any moderator, as with Jitsi's module: its other
-- modules (mod_muc_flip) send them on behalf of tokenless moderators.
if options.token_verification_require_token_for_moderation then
	local function require_token(event)
		local origin, stanza = event.origin, event.stanza;
		local from = stanza.attr.from;
		if (from and is_admin(from, module.host)) or (origin and origin.auth_token) then return; end
		origin.send(st.error_reply(stanza, "cancel", "not-allowed", "Moderation requires a token")
			:tag("token-required", { xmlns = JITMEET }):up());
		return true;
	end
	module:hook("iq-set/bare/http://jabber.org/protocol/muc#owner:query", require_token, 99);
end

-- token_verification_moderators_from_token: the token decides a token user's
-- affiliation on join (owner or member); sessions without a token are left alone.
if options.token_verification_moderators_from_token then
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
		local bare = jid.bare(event.stanza.attr.from);
		if not (origin and origin.auth_token) then
			-- Owners come from tokens: a guest who opens a room gets no owner from
			-- Prosody's creator rule; admins (Jicofo) keep it.
			if event.is_new_room and not is_admin(event.stanza.attr.from, module.host)
				and room:get_affiliation(bare) == "owner" then
				room:set_affiliation(true, bare, "none");
				occupant.role = room:get_default_role("none");
			end
			return;
		end
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
