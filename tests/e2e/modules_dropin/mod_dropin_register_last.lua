-- Test module (global): once every host is up, reload one host's module so that
-- its SASL ANONYMOUS registration is the last one, whatever order Prosody loaded
-- the hosts in. Option: dropin_register_last = { "<host>", "<module>" }.

module:set_global();

local modulemanager = require "core.modulemanager";

local target = module:get_option_array("dropin_register_last");

module:hook_global("server-started", function()
	local host, name = target[1], target[2];
	local ok, err = modulemanager.reload(host, name);
	module:log("info", "dropin: reloaded %s on %s to register last: %s", name, host, ok and "ok" or tostring(err));
end);
