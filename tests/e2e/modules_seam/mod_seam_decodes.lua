-- Test module: how many times each login decoded its token, read from the native
-- module's per-thread counter between the first event of a login
-- (pre-jitsi-authentication-fetch-key) and mod_saslauth's outcome event.
local jt = require "jitsi_tokens";

module:hook_global("pre-jitsi-authentication-fetch-key", function(session)
	if session.host == module.host then session.seam_decodes_at = jt.decodes(); end
end, 1000);

local function report(event)
	local session = event.session;
	if not session.seam_decodes_at then return; end
	module:log("info", "seam decodes room=%s n=%d", tostring(session.jitsi_web_query_room),
		jt.decodes() - session.seam_decodes_at);
end

module:hook("authentication-success", report);
module:hook("authentication-failure", report);
