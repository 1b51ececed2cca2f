-- Token (JWT) authentication for Jitsi Meet: `authentication = "token"`.
--
-- The token comes from the BOSH / WebSocket request (`?token=` or
-- `Authorization: Bearer`) and is checked during SASL ANONYMOUS by the native
-- verifier `jitsi_tokens` (Rust). Everything here is plumbing: options in, key
-- fetching, SASL answers and the session fields other Jitsi modules read.

local sasl = require "util.sasl";
local async = require "util.async";
local cache = require "util.cache";
local http = require "net.http";
local urldecode = require "util.http".urldecode;
local new_uuid = require "util.uuid".generate;
local now = require "util.time".now;

local host = module.host;

-- First line of an error, without mlua's "runtime error: " prefix and traceback, so
-- the log shows one readable sentence.
local function first_line(err)
	local s = tostring(err):match("^[^\n]*");
	return (s:gsub("^runtime error: ", ""));
end

-- A token-supplied string (kid) made safe for one log line.
local function printable(s)
	return (tostring(s):sub(1, 128):gsub("[%c]", "?"));
end

---------------------------------------------------------------------------
-- Options: names, types and defaults are the native module's option table
-- (module:get_option reads the host value, else the global one).

local jt, verifier;
local options = {}; -- stays empty when they cannot be read: the host is closed then
do
	local ok, mod = pcall(require, "jitsi_tokens");
	if not ok then
		module:log("error", "Token authentication disabled on %s: the native module jitsi_tokens "
			.. "could not be loaded for %s (install jitsi_tokens.so on Lua's cpath): %s",
			host, _VERSION, first_line(mod));
	else
		jt = mod;
		local opts, why = jt.read_options(function(name) return module:get_option(name); end,
			"verifier", "auth_plugin");
		local made, v = false, why;
		if opts then made, v = pcall(jt.verifier, opts); end
		-- Not pcall'd away: a call that must exist and fails leaves the host closed.
		local sized, size_err = false, v;
		if made then sized, size_err = pcall(v.set_key_cache_size, v, opts.jwt_pubkey_cache_size); end
		if sized then
			verifier, options = v, opts;
		else
			module:log("error", "Token authentication disabled on %s, no login is offered: %s",
				host, first_line(size_err));
		end
	end
end

local allow_empty_token = options.allow_empty_token;
local key_server = options.asap_key_server;
local keys_url = options.cache_keys_url;
-- 0 only on a closed host, which fetches nothing.
local key_cache_size = options.jwt_pubkey_cache_size or 0;
local key_cache_ttl = options.asap_key_cache_ttl;
-- Ours: how long a login waits for a key server before it is refused.
local key_fetch_timeout = options.asap_key_fetch_timeout;
-- Ours: how long a failed key fetch for a kid is remembered (no refetch meanwhile).
local key_failure_ttl = options.asap_key_failure_ttl;

---------------------------------------------------------------------------
-- Metrics: Jitsi's counter names (existing dashboards keep working), then ours.

local measure_success = module:measure("success", "counter");
local measure_verify_fail = module:measure("verify_fail", "counter");
local measure_ban = module:measure("ban", "counter");
local measure_pre_fetch_fail = module:measure("pre_fetch_fail", "counter");
local measure_post_auth_fail = module:measure("post_auth_fail", "counter");
-- Prosody 0.11 has no labelled metrics (module:metric): there only Jitsi's counters are kept.
local no_metric = { with_labels = function() return { add = function() end, sample = function() end }; end };
local function labelled_metric(...)
	if module.metric then return module:metric(...); end
	return no_metric;
end
local refusals = labelled_metric("counter", "refusals", "", "Token logins refused, by reason", { "reason" });
local key_fetches = labelled_metric("histogram", "key_fetch", "seconds", "Key server fetches by outcome",
	{ "outcome" }, { buckets = { 0.01, 0.05, 0.1, 0.5, 1, 2, 5 } });
local key_cache_hits = labelled_metric("counter", "key_cache_hits", "", "Keys served from the key cache", {});

---------------------------------------------------------------------------
-- Token and query parameters from the HTTP request that opened the session

-- The parameters we read from a query string, decoded as util.http.formdecode
-- decodes them (`+` is a space, %XX escapes; the last of a repeated name wins).
-- Not formdecode itself: it runs every value through two gsubs (copies on Lua 5.2)
-- and builds a table per parameter, 1.7 KB per session for a realistic token on
-- Lua 5.4 against 0.7 KB here; with Prosody's default GC (a full cycle per 5% of
-- heap growth) the bytes a login allocates are most of what it costs. A token is
-- base64url, so here it is copied once and only decoded if it needs decoding.
local wanted_params = { token = true, room = true, prefix = true, previd = true, customusername = true };

local function decode_part(s)
	if not s:find("[%%+]") then return s; end
	return urldecode((s:gsub("%+", "%%20")));
end

local function query_params(query)
	local params, at = {}, 1;
	-- string.find rather than gmatch: gmatch allocates its match state per call.
	while true do
		local _, last, name, value = query:find("([^=&]*)=([^&]*)", at);
		if not last then break; end
		name = decode_part(name);
		if wanted_params[name] then params[name] = decode_part(value); end
		at = last + 2;
	end
	return params;
end

local function init_session(event)
	local session, request = event.session, event.request;
	-- A WebSocket session learns its host only from <open/>, later: keep the
	-- parameters anyway; they are read only when this host authenticates it.
	if session.host and session.host ~= host then return; end
	local query = request.url and request.url.query;
	local params = type(query) == "string" and query_params(query) or {};
	local token = params.token;
	if token == nil and request.headers then
		local auth = request.headers.authorization;
		if type(auth) == "string" and auth:sub(1, 7):lower() == "bearer " then
			token = auth:sub(8);
		end
	end
	if token == "" then token = nil; end
	session.auth_token = token;
	session.jitsi_web_query_room = params.room;
	session.jitsi_web_query_prefix = params.prefix or "";
	session.previd = params.previd;
	session.customusername = params.customusername;
end

module:hook_global("bosh-session", init_session);
module:hook_global("websocket-session", init_session);

---------------------------------------------------------------------------
-- Public keys from the key server: asynchronous, one fetch per kid in flight,
-- cached for key_cache_ttl only when the body is a usable public key. A failure
-- is remembered for key_failure_ttl, and at most FAILING_FETCH_BUDGET fetches
-- that fail (or are still in flight) run per key_failure_ttl, so tokens with
-- random kids cannot turn this server into an amplifier against the key server.

local FAILING_FETCH_BUDGET = 10;

-- util.cache needs a size above 0; the verifier has already refused a bad one.
local key_cache = cache.new(math.max(1, key_cache_size));
local in_flight, in_flight_count = {}, 0; -- kid -> { waiters = { done, ... }, finished, pem }
local failed_kids = cache.new(1000); -- kid -> time of the failure
local failure_times = {}; -- times of recent failures, oldest first

local function loggable(url) return jt.loggable_url(url); end

-- GET `url` with Prosody's asynchronous client, bounded by key_fetch_timeout;
-- `on_done(body, code)` runs once, with code nil and a reason as body when there
-- was no answer in time or the request could not start.
local function http_get(url, on_done)
	local finished, req = false, nil;
	local function finish(body, code)
		if finished then return; end
		finished = true;
		on_done(body, code);
	end
	module:add_timer(key_fetch_timeout, function()
		if finished then return; end
		finish(("no answer within %gs"):format(key_fetch_timeout), nil);
		if type(req) == "table" and req.conn then pcall(req.conn.close, req.conn); end
	end);
	local started, err = pcall(function()
		-- net.http reports a connection failure as code 0 with the reason as body.
		req = http.request(url, nil, function(body, code) finish(body, code ~= 0 and code or nil); end);
	end);
	if not started then finish(first_line(err), nil); end
end

local function recent_failures()
	local horizon = now() - key_failure_ttl;
	while failure_times[1] and failure_times[1] <= horizon do table.remove(failure_times, 1); end
	return #failure_times;
end

-- Nil, or why `kid` is not fetched now.
local function fetch_refused(kid)
	local failed_at = failed_kids:get(kid);
	if failed_at and now() - failed_at < key_failure_ttl then
		return "failed less than " .. key_failure_ttl .. "s ago";
	end
	if recent_failures() + in_flight_count >= FAILING_FETCH_BUDGET then
		return ("%d key fetches failed or are pending within %gs"):format(FAILING_FETCH_BUDGET, key_failure_ttl);
	end
end

-- The PEM for `kid` (nil when it cannot be had), and true when it came from the cache.
local function fetch_public_key(kid)
	local cached = key_cache:get(kid);
	if cached and cached.expires > os.time() then return cached.pem, true; end
	if not async.ready() then
		module:log("error", "Cannot wait for key %s outside an async context", printable(kid));
		return nil;
	end

	local fetch = in_flight[kid];
	if not fetch then
		local refused = fetch_refused(kid);
		if refused then
			module:log("debug", "Key %s not fetched: %s", printable(kid), refused);
			return nil;
		end
		fetch = { waiters = {} };
		in_flight[kid], in_flight_count = fetch, in_flight_count + 1;
		local function finish(pem)
			fetch.finished, fetch.pem = true, pem;
			in_flight[kid], in_flight_count = nil, in_flight_count - 1;
			if pem then
				key_cache:set(kid, { pem = pem, expires = os.time() + key_cache_ttl });
				failed_kids:set(kid, nil);
			else
				failed_kids:set(kid, now());
				table.insert(failure_times, now());
			end
			for _, done in ipairs(fetch.waiters) do done(); end
		end
		local ok, file = pcall(jt.key_file, kid);
		if not ok then
			module:log("warn", "No key file name for kid %s: %s", printable(kid), first_line(file));
			finish(nil);
		else
			local url = key_server:gsub("/*$", "") .. "/" .. file;
			http_get(url, function(body, code)
				if code == 200 and type(body) == "string" then
					local usable, why = verifier:check_public_key(body);
					if usable then return finish(body); end
					module:log("warn", "Key server answered %s for kid %s with a body that is not a usable "
						.. "public key: %s", loggable(url), printable(kid), why);
				elseif code == nil then
					module:log("warn", "Key server %s failed for kid %s: %s", loggable(url), printable(kid), tostring(body));
				else
					module:log("warn", "Key server answered HTTP %s at %s for kid %s", tostring(code), loggable(url),
						printable(kid));
				end
				finish(nil);
			end);
		end
	end
	if not fetch.finished then
		local wait, done = async.waiter();
		table.insert(fetch.waiters, done);
		wait();
	end
	return fetch.pem;
end

-- cache_keys_url: load at start, refresh every key_cache_ttl; after a failure retry
-- sooner, keeping the keys already loaded. Bounded by key_fetch_timeout too.
if verifier and keys_url then
	local retry_after_failure = math.min(60, key_cache_ttl);
	local shown_url = loggable(keys_url);
	local function refresh()
		http_get(keys_url, function(body, code)
			local ok = false;
			if code ~= 200 or type(body) ~= "string" then
				module:log("error", "Could not fetch cache_keys_url %s: %s; keeping the keys already loaded",
					shown_url, code and ("HTTP " .. tostring(code)) or tostring(body));
			else
				local called, n, set_err = pcall(verifier.set_keys, verifier, body);
				ok = called and n ~= nil;
				if ok then
					module:log("info", "Loaded %d keys from %s", n, shown_url);
				else
					module:log("error", "Unusable document at cache_keys_url %s: %s", shown_url,
						first_line(called and set_err or n));
				end
			end
			module:add_timer(ok and key_cache_ttl or retry_after_failure, refresh);
		end);
	end
	module:add_timer(0, refresh);
end

---------------------------------------------------------------------------
-- Verification and the session fields other Jitsi modules read

-- Jitsi's leading words and level (administrators' searches and alerts look for
-- them), then what identifies the token and session: kid, iss and sub as the
-- token states them (read, never trusted), never the token itself.
local function log_refusal(session, condition, reason, kid, iss, sub)
	local function field(v) return type(v) == "string" and printable(v) or "-"; end
	module:log("warn", "Error verifying token err:%s, reason:%s tenant:%s room:%s kid:%s iss:%s sub:%s session:%s",
		field(condition), field(reason), field(session.jitsi_web_query_prefix), field(session.jitsi_web_query_room),
		field(kid), field(iss), field(sub), tostring(session.id or session.sid));
end

-- kid, iss, sub for a refusal that comes before any verification read the
-- token (pre-jitsi-authentication-fetch-key): decoded for the log line only.
local function unverified_fields(token)
	if type(token) ~= "string" then return nil, nil, nil; end
	local kid, iss, sub;
	local ok, header = pcall(jt.header, token);
	if ok and type(header) == "table" then kid = header.kid; end
	local claims_ok, claims = pcall(jt.unverified_claims, token);
	if claims_ok and type(claims) == "table" then iss, sub = claims.iss, claims.sub; end
	return kid, iss, sub;
end

-- One decode per login: a key-server token whose key the verifier lacks comes
-- back as `key-missing` with the decoded token (`read`), which `read:finish`
-- completes with the fetched PEM (nil when there is none: "could not obtain
-- public key"). Returns claims, reason, condition and `read` (the kid on
-- success; the refusal's handle, with kid, iss and sub, otherwise).
local function verify(token)
	local ok, claims, reason, condition, code, read = pcall(verifier.verify, verifier, token);
	if ok and code == "key-missing" and key_server then
		local started = now();
		local pem, from_cache = fetch_public_key(read.kid);
		if from_cache then
			key_cache_hits:with_labels():add(1);
		else
			key_fetches:with_labels(pem and "ok" or "failed"):sample(now() - started);
		end
		ok, claims, reason, condition, code, read = pcall(read.finish, read, pem);
	end
	if not ok then
		module:log("error", "Native verifier error: %s", first_line(claims));
		return nil, "internal error", "not-allowed", nil;
	end
	return claims, reason, condition, read;
end

-- The session fields a verified token sets (other Jitsi modules read them).
local token_session_fields = {
	"auth_token", "jitsi_meet_room", "jitsi_meet_domain", "jitsi_meet_auth_issuer", "jitsi_meet_str_tenant",
	"jitsi_meet_context_user", "jitsi_meet_context_group", "jitsi_meet_context_features", "jitsi_meet_context_room",
};

local function set_token_fields(session, claims)
	session.jitsi_meet_room = claims.room;
	session.jitsi_meet_domain = claims.sub;
	session.jitsi_meet_auth_issuer = claims.iss;
	local context = claims.context;
	if type(context) == "table" then
		session.jitsi_meet_str_tenant = context.tenant;
		session.jitsi_meet_context_user = context.user;
		session.jitsi_meet_context_group = context.group;
		session.jitsi_meet_context_features = context.features;
		session.jitsi_meet_context_room = context.room;
	elseif claims.user_id ~= nil then
		session.jitsi_meet_context_user = { id = claims.user_id };
	end
end

-- Verifies the session's token (or its absence under allow_empty_token) and sets
-- the token fields; false, condition, reason when refused. Then the token's kid,
-- iss and sub for a refusal's log line (nil without a token).
local function check_token(session)
	local token = session.auth_token;
	if token == nil and allow_empty_token then return true; end
	-- Without a token the verifier answers "token required".
	local claims, reason, condition, read = verify(token);
	if not claims then
		if read then return false, condition, reason, read.kid, read.iss, read.sub; end
		return false, condition, reason;
	end
	set_token_fields(session, claims);
	prosody.events.fire_event("jitsi-authentication-token-verified", { session = session, claims = claims });
	module:log("debug", "Token accepted for session %s (iss=%s sub=%s)", tostring(session.id or session.sid),
		tostring(claims.iss), tostring(claims.sub));
	return true, nil, nil, read, claims.iss, claims.sub;
end

local function refuse(session, measure, condition, reason, kid, iss, sub)
	log_refusal(session, condition, reason, kid, iss, sub);
	measure(1);
	-- Without parenthesised details ("(120 sec since expired)"): a label value per
	-- number would grow the metric without bound.
	refusals:with_labels((tostring(reason):gsub("%s*%b()", ""))):add(1);
	return false, condition, reason;
end

-- The username of the live session whose XEP-0198 resumption token is `previd`,
-- so the resuming stream authenticates as that session's user and mod_smacks can
-- resume it; nil (a fresh username) when there is none.
local function resumed_username(previd)
	if type(previd) ~= "string" then return nil; end
	for _, s in pairs(prosody.full_sessions) do
		if s.resumption_token == previd then return s.username; end
	end
	return nil;
end

-- The events, order and refusal semantics Jitsi's other modules hook.
local function authenticate(sasl_handler, session)
	local events = prosody.events;
	local pre = events.fire_event("pre-jitsi-authentication-fetch-key", session);
	if type(pre) == "table" and pre.res == false then
		return refuse(session, measure_pre_fetch_fail, pre.error or "not-allowed", pre.reason or "refused before key fetch",
			unverified_fields(session.auth_token));
	end
	local ok, condition, reason, kid, iss, sub = check_token(session);
	if not ok then return refuse(session, measure_verify_fail, condition, reason, kid, iss, sub); end
	if events.fire_event("jitsi-access-ban-check", session) == false then
		return refuse(session, measure_ban, "not-allowed", "user is banned", kid, iss, sub);
	end
	local username = events.fire_event("pre-jitsi-authentication", session);
	if type(username) == "string" then
		sasl_handler.username = username;
	else
		sasl_handler.username = resumed_username(session.previd);
	end
	local post = events.fire_event("post-jitsi-authentication", session);
	if type(post) == "table" and post.res == false then
		return refuse(session, measure_post_auth_fail, post.error or "not-allowed", post.reason or "refused after authentication",
			kid, iss, sub);
	end
	measure_success(1);
	return true;
end

module:hook("pre-resource-unbind", function(event)
	local session = event.session;
	prosody.events.fire_event("jitsi-pre-session-unbind", { jid = session.full_jid, session = session, error = event.error });
end, 11);

-- Prosody 13 resumes by moving the new stream into the old session: the token
-- fields come from the stream that just logged in; a login made on another host
-- is verified again against this host's options.
module:hook_global("c2s-session-updated", function(event)
	local session, from = event.session, event.from_session;
	if session.host ~= host or type(from) ~= "table" then return; end
	for _, name in ipairs(token_session_fields) do session[name] = from[name]; end
	if from.host ~= host and verifier then
		local ok, accepted, condition, reason, kid, iss, sub = pcall(check_token, session);
		if not (ok and accepted) then
			reason = ok and reason or "internal error";
			log_refusal(session, condition, reason, kid, iss, sub);
			session:close({ condition = "not-authorized", text = reason });
		end
	end
end);

---------------------------------------------------------------------------
-- SASL ANONYMOUS, with the semantics of Jitsi's own: registration is
-- process-wide, so whichever module registered last serves every host (token,
-- Jitsi guest and plain anonymous ones) and each must work with the others'
-- profiles. A UUID username, kept unless the profile set one (resumption,
-- pre-jitsi-authentication); one attempt, never the stock retry loop that pins
-- the CPU while a profile says no.

local function anonymous_mechanism(self, message) -- luacheck: ignore 212/message
	local username = new_uuid();
	local ok, condition, text = self.profile.anonymous(self, username, self.realm);
	if ok ~= true then return "failure", condition or "not-authorized", text; end
	if self.username == nil then self.username = username; end
	return "success";
end

sasl.registerMechanism("ANONYMOUS", { "anonymous" }, anonymous_mechanism);

---------------------------------------------------------------------------
-- The auth provider

local provider = {};

function provider.test_password() return nil, "Password based auth not supported"; end
function provider.get_password() return nil, "Password not available"; end
function provider.set_password() return nil, "Password based auth not supported"; end
function provider.user_exists() return nil, "Only token users are supported"; end
function provider.create_user() return nil, "Account creation not supported"; end
function provider.delete_user() return nil, "Account deletion not supported"; end
function provider.users() return next, {}, nil; end

function provider.get_sasl_handler(session)
	local profile = {};
	-- A host whose verifier could not be built offers no mechanism at all.
	if verifier then
		profile.anonymous = function(sasl_handler)
			local ok, accepted, condition, text = pcall(authenticate, sasl_handler, session);
			if not ok then
				module:log("error", "Token check failed: %s", first_line(accepted));
				return false, "not-allowed", "internal error";
			end
			return accepted, condition, text;
		end;
	end
	return sasl.new(host, profile);
end

module:provides("auth", provider);
