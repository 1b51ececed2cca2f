-- Test stand-in for Jitsi's `authentication = "jitsi-anonymous"` guest provider,
-- written from its documented behaviour (not its code): it registers its own SASL
-- ANONYMOUS process-wide, gives UUID usernames, keeps a username its profile set,
-- and its profile resumes by `previd` and drops a token from a fresh guest session.

local sasl = require "util.sasl";
local new_uuid = require "util.uuid".generate;

local function mechanism(self, message) -- luacheck: ignore 212/message
	-- Marks which module's mechanism served the login, so tests can tell the order.
	module:log("info", "guest stand-in ANONYMOUS mechanism serving %s", self.realm);
	local username = new_uuid();
	local ok, err, msg = self.profile.anonymous(self, username, self.realm);
	if ok == true then
		if self.username == nil then self.username = username; end
		return "success";
	end
	return "failure", err, msg;
end

sasl.registerMechanism("ANONYMOUS", { "anonymous" }, mechanism);
module:log("info", "guest stand-in registered ANONYMOUS");

local provider = {};
function provider.test_password() return nil, "Password based auth not supported"; end
function provider.get_password() return nil, "Password not available"; end
function provider.set_password() return nil, "Password based auth not supported"; end
function provider.user_exists() return nil, "Only anonymous users are supported"; end
function provider.create_user() return nil, "Account creation not supported"; end
function provider.users() return next, {}, nil; end

function provider.get_sasl_handler(session)
	return sasl.new(module.host, {
		anonymous = function(self, username) -- luacheck: ignore 212/username
			if session.previd ~= nil then
				for _, s in pairs(prosody.full_sessions) do
					if s.resumption_token == session.previd then
						self.username = s.username;
						break;
					end
				end
			else
				session.auth_token = nil;
			end
			return true;
		end;
	});
end

module:provides("auth", provider);
