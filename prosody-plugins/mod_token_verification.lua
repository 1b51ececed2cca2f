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

-- Room claims used as Lua patterns (context.room.regex). Lua's matcher backtracks:
-- a pattern with k variable-length items can try about (n+1)^k splits of an n-byte
-- name, each costing up to the pattern's length, so besides Jitsi's two limits a
-- claim whose bound exceeds REGEX_MAX_STEPS for this room name is refused unmatched
-- (measured: a few milliseconds at the bound).
local regex_max_length = parent:get_option_number("token_regex_room_max_length", 128);
local regex_max_quantifiers = parent:get_option_number("token_regex_max_quantifiers", 3);
local REGEX_MAX_STEPS = 1e7;

-- Index after the set that opens at `i` (Lua's rule: the first member may be `]`);
-- past the end when unclosed, which string.find then reports as malformed.
local function after_set(p, i)
	i = i + 1;
	if p:sub(i, i) == "^" then i = i + 1; end
	repeat
		if i > #p then return i; end
		i = i + (p:sub(i, i) == "%" and 2 or 1);
	until p:sub(i, i) == "]"
	return i + 1;
end

-- Quantifiers, variable-length items (*, +, -, %b, back-references) and `?` items.
local function pattern_shape(p)
	local quantifiers, variable, optional = 0, 0, 0;
	local i = p:sub(1, 1) == "^" and 2 or 1;
	while i <= #p do
		local c, single = p:sub(i, i), true;
		if c == "%" then
			local x = p:sub(i + 1, i + 1);
			if x == "b" then i, single, variable = i + 4, false, variable + 1;
			elseif x == "f" then i, single = after_set(p, i + 2), false;
			elseif x:match("^%d$") then i, single, variable = i + 2, false, variable + 1;
			else i = i + 2; end
		elseif c == "[" then i = after_set(p, i);
		elseif c == "(" or c == ")" or (c == "$" and i == #p) then i, single = i + 1, false;
		else i = i + 1; end
		local q = single and p:sub(i, i);
		if q == "*" or q == "+" or q == "-" then
			quantifiers, variable, i = quantifiers + 1, variable + 1, i + 1;
		elseif q == "?" then
			quantifiers, optional, i = quantifiers + 1, optional + 1, i + 1;
		end
	end
	return quantifiers, variable, optional;
end

-- Whether the pattern covers the whole room name; nil plus why when the claim is
-- refused unmatched. Errors (malformed pattern) are the caller's to report.
local function matches_whole(name, pattern)
	if #pattern > regex_max_length then return nil, "longer than token_regex_room_max_length"; end
	local quantifiers, variable, optional = pattern_shape(pattern);
	if quantifiers > regex_max_quantifiers then return nil, "more than token_regex_max_quantifiers"; end
	if (#name + 1) ^ variable * 2 ^ optional * #pattern > REGEX_MAX_STEPS then
		return nil, "too costly to match against this room name";
	end
	-- Anchored: a match must start at 1 anyway, and other starts would only add work.
	local s, e = name:find(pattern:sub(1, 1) == "^" and pattern or "^" .. pattern);
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
			local ok, matched, why = pcall(matches_whole, room_name, claim);
			if not ok or matched == nil then
				module:log("info", "Room name pattern in token refused: %s", ok and why or tostring(matched));
				return false, "invalid-regex", "Invalid room name pattern in token";
			end
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

-- token_verification_require_token_for_moderation: room configuration (muc#owner)
-- needs a session that logged in with a token. Kicks, roles and affiliations
-- (muc#admin) stay open to any moderator, as with Jitsi's module: its other
-- modules (mod_muc_flip) send them on behalf of tokenless moderators.
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
