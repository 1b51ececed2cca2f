"""One option table (crates/verifier/src/option_table.rs): Debian's Prosody (through
the Lua module) and the CLI (`token verify`, `status`) judge an option's value the
same way, with the same words, and the Ansible module's token options agree with the
table the Lua module exports."""

import importlib.util
import json
import re
import sys
import time

import pytest
import yaml

from harness import APP_ID, REPO, SECRET, Bosh, Prosody, mint
from test_lua_module import cpath, run_lua  # noqa: F401 (cpath is a fixture)
from test_status_live import config_root, run

WORDING = "`token_clock_leeway` must be a whole number of seconds from 0 to 4294967295, not {}"

# host -> the literal written in the config, and what both sides must answer
LEEWAYS = {
    "whole.opt.test": ("30.0", None),
    "frac.opt.test": ("30.5", WORDING.format("30.5")),
    "neg.opt.test": ("-1", WORDING.format("-1")),
}


@pytest.fixture(scope="module")
def server():
    hosts = "".join(f"""
VirtualHost "{host}"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
    token_clock_leeway = {literal}
""" for host, (literal, _) in LEEWAYS.items()) + f"""
VirtualHost "room.opt.test"
    authentication = "token"
    app_id = "{APP_ID}"
    app_secret = "{SECRET}"
    asap_accepted_audiences = {{ "jitsi" }}
    token_regex_max_quantifiers = 2.5

Component "conference.room.opt.test" "muc"
    modules_enabled = {{ "token_verification" }}
"""
    with Prosody(hosts).running() as s:
        yield s


@pytest.fixture(scope="module")
def root(server):
    with config_root(server) as d:
        yield d


def expired_20s_ago(host: str) -> str:
    now = int(time.time())
    return mint(sub=host, exp=now - 20, nbf=now - 60)


def status_check(root, host: str, check: str) -> dict:
    r = run("status", "--root", str(root), "--domain", host, "--output", "json")
    report = json.loads(r.stdout)
    return next(c for c in report["checks"] if c["check"] == check and c["host"] in (host, None))


def test_whole_float_leeway_is_accepted_by_prosody_and_the_cli(server, root):
    """Fails before: the CLI refused `token_clock_leeway = 30.0`, Prosody took it."""
    host = "whole.opt.test"
    token = expired_20s_ago(host)
    result, _ = Bosh(server, host, token).login()
    assert result.ok, result
    r = run("token", "verify", "--root", str(root), "--domain", host, "--output", "json", token)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["valid"] is True
    assert status_check(root, host, "token-options")["result"] == "ok"


@pytest.mark.parametrize("host", ["frac.opt.test", "neg.opt.test"])
def test_fractional_and_negative_leeway_are_refused_alike(server, root, host):
    """Fails before: Prosody refused 30.5 and -1 in other words than the CLI, which
    called them expressions it cannot read."""
    wording = LEEWAYS[host][1]
    line = server.wait_for_log(
        rf"Token authentication disabled on {re.escape(host)}, no login is offered: (.*)")
    assert line.group(1).strip() == wording
    b = Bosh(server, host, expired_20s_ago(host))
    assert "ANONYMOUS" not in b.mechanisms(b.open())

    r = run("token", "verify", "--root", str(root), "--domain", host, expired_20s_ago(host))
    assert r.returncode != 0
    assert wording in r.stderr, r.stderr
    check = status_check(root, host, "token-options")
    assert check["result"] == "fail" and wording in check["detail"], check


def test_a_fractional_room_option_is_refused_alike(server, root):
    """Fails before: the CLI called 2.5 an expression it cannot read, Prosody's
    get_option_number took it."""
    wording = "`token_regex_max_quantifiers` must be a whole number from 0 to 4294967295, not 2.5"
    line = server.wait_for_log(r"Room check disabled, every join refused: (.*)")
    assert line.group(1).strip() == wording
    r = run("token", "verify", "--root", str(root), "--domain", "room.opt.test",
            mint(sub="room.opt.test"))
    assert r.returncode != 0
    assert wording in r.stderr, r.stderr
    check = status_check(root, "room.opt.test", "token_verification")
    assert check["result"] == "fail" and wording in check["detail"], check


def test_lua_module_reads_plugin_options_checked_and_defaulted(cpath):  # noqa: F811
    out = run_lua(cpath, """
local jt = require "jitsi_tokens"
local given = { jwt_pubkey_cache_size = 64.0, asap_accepted_issuers = "one" }
local o = jt.read_options(function(name) return given[name] end, "verifier", "auth_plugin")
print(o.jwt_pubkey_cache_size, math.type(o.jwt_pubkey_cache_size), o.asap_key_cache_ttl,
  o.asap_key_fetch_timeout, o.asap_key_failure_ttl, o.allow_empty_token, o.asap_accepted_issuers[1],
  o.token_verification_allowlist, o.enable_domain_verification)
print(jt.read_options(function(name)
  if name == "asap_key_fetch_timeout" then return 0.5 end
end, "auth_plugin"))
print(pcall(jt.read_options, function() end, "nobody"))
""")
    lines = out.splitlines()
    # Only the readers asked for: the room rule's and the room plugin's options are absent.
    assert lines[0] == "64\tinteger\t3600\t3\t10\tfalse\tone\tnil\tnil", lines[0]
    assert lines[1] == ("nil\t`asap_key_fetch_timeout` must be a whole number of seconds "
                        "from 0 to 4294967295, not 0.5"), lines[1]
    assert lines[2].startswith("false\t") and 'unknown reader "nobody"' in lines[2], lines[2]


# The Ansible module's token options by their Prosody names (its own names are
# shorter where the installer's flags are).
ANSIBLE_NAMES = {
    "app_id": "app_id",
    "app_secret": "app_secret",
    "asap_key_server": "asap_key_server",
    "cache_keys_url": "cache_keys_url",
    "signature_algorithm": "signature_algorithm",
    "accepted_issuers": "asap_accepted_issuers",
    "accepted_audiences": "asap_accepted_audiences",
    "allow_empty_token": "allow_empty_token",
    "token_clock_leeway": "token_clock_leeway",
    "moderators_from_token": "token_verification_moderators_from_token",
    "allowlist": "token_verification_allowlist",
}
# Ansible's type for each kind of the table.
ANSIBLE_TYPE = {
    "boolean": {"type": "bool"},
    "string": {"type": "str"},
    "bytes": {"type": "str"},
    "strings": {"type": "list", "elements": "str"},
    "seconds": {"type": "int"},
    "count": {"type": "int"},
}


def ansible_module():
    path = REPO / "contrib/ansible/plugins/modules/jitsi_meet_tokens.py"
    spec = importlib.util.spec_from_file_location("jitsi_meet_tokens_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("jitsi_meet_tokens_module", module)
    spec.loader.exec_module(module)
    return module


def exported_table(cpath) -> dict:  # noqa: F811
    out = run_lua(cpath, """
local jt = require "jitsi_tokens"
for name, o in pairs(jt.options) do print(name, o.scope, o.kind, table.concat(o.readers, ",")) end
""")
    return {name: {"scope": scope, "kind": kind, "readers": readers.split(",")}
            for name, scope, kind, readers in (line.split("\t") for line in out.splitlines())}


def test_ansible_token_options_agree_with_the_option_table(cpath):  # noqa: F811
    """Fails before: nothing tied the Ansible argument spec to the options it sets."""
    table = exported_table(cpath)
    mod = ansible_module()
    spec = mod.argument_spec()
    for ours, prosody in ANSIBLE_NAMES.items():
        assert prosody in table, f"{prosody} is not in the option table"
        arg = spec[ours]
        want = ANSIBLE_TYPE[table[prosody]["kind"]]
        got = {k: arg[k] for k in want if k in arg}
        assert got == want, (ours, got, want)
        # Unset means the installer's (and so the table's) default: no second default here.
        assert arg.get("default") is None, (ours, arg.get("default"))
    # A token option of the table the module takes under its own name must be mapped above.
    for name in spec:
        if name in table:
            assert name in ANSIBLE_NAMES, f"{name} is a table option missing from ANSIBLE_NAMES"
    documented = yaml.safe_load(mod.DOCUMENTATION)["options"]
    for ours, prosody in ANSIBLE_NAMES.items():
        want = ANSIBLE_TYPE[table[prosody]["kind"]]
        got = {k: documented[ours][k] for k in want if k in documented[ours]}
        assert got == want, (ours, "DOCUMENTATION", got, want)
    leeway = " ".join(documented["token_clock_leeway"]["description"])
    assert "(C(iat) is not checked)" in leeway, leeway


def test_what_prosodys_getters_take_the_module_takes(cpath):  # noqa: F811
    # get_option_boolean takes "true"/"false"/1/0 and get_option_number numeric strings;
    # Jitsi's modules read these options with them, so a config they accept works here.
    out = run_lua(cpath, """
local jt = require "jitsi_tokens"
local given = { allow_empty_token = "true", jwt_pubkey_cache_size = "0x40", asap_key_cache_ttl = " 60 ",
  asap_require_room_claim = 0 }
local o = assert(jt.read_options(function(name) return given[name] end, "verifier", "auth_plugin"))
print(o.allow_empty_token, o.jwt_pubkey_cache_size, o.asap_key_cache_ttl, o.asap_require_room_claim)
print(jt.read_options(function(name) if name == "allow_empty_token" then return "yes" end end, "auth_plugin"))
""")
    lines = out.splitlines()
    assert lines[0] == "true\t64\t60\tfalse", lines[0]
    assert lines[1] == "nil\t`allow_empty_token` must be true or false, not a string", lines[1]
