"""The `jitsi_tokens` Lua C module, loaded by the real `lua5.4` (and `lua5.2` for
the Prosody 0.11 build) exactly as Prosody loads it: `require "jitsi_tokens"`."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import APP_ID, DROP, REPO, SECRET, mint, native_module, raw_token


def lua_bin(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: `apt-get install -y {name}`")
    return path


@pytest.fixture(scope="module")
def cpath(tmp_path_factory):
    d = tmp_path_factory.mktemp("cpath54")
    shutil.copy(native_module(), d / "jitsi_tokens.so")
    return d


def run_lua(cpath, script: str, lua: str = "lua5.4", env: dict | None = None) -> str:
    var = "LUA_CPATH_5_4" if lua == "lua5.4" else "LUA_CPATH_5_2"
    full_env = dict(os.environ, **{var: f"{cpath}/?.so;;"}, **(env or {}))
    p = subprocess.run([lua_bin(lua), "-e", script], capture_output=True, text=True, env=full_env, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


PRELUDE = f"""
local jt = require "jitsi_tokens"
local v = jt.verifier {{ app_id = "{APP_ID}", app_secret = "{SECRET}", asap_accepted_audiences = "jitsi" }}
local function show(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end print(table.concat(t, "|")) end
"""


def test_version_is_the_crate_version(cpath):
    version = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert run_lua(cpath, 'print(require("jitsi_tokens").version)').strip() == version


def test_verify_returns_plain_lua_table(cpath):
    token = mint(context={"user": {"id": "u", "name": "N", "gone": None, "n": 1.5, "b": False},
                          "features": {"recording": True}, "list": [1, None, "x"]})
    out = run_lua(cpath, PRELUDE + """
local c, r, cond = v:verify(os.getenv("TOK"))
assert(type(c) == "table", r)
show(select("#", v:verify(os.getenv("TOK"))), r, cond)
show(c.iss, c.sub, c.room, math.type(c.exp), c.context.user.name, c.context.user.gone, c.context.user.n,
     c.context.user.b, c.context.features.recording, c.context.list[1], c.context.list[2], c.context.list[3])
""", env={"TOK": token})
    lines = out.splitlines()
    assert lines[0] == "5|nil|nil"  # claims, nil, nil, nil, kid
    assert lines[1] == "jitsi-e2e|meet.test|*|integer|N|nil|1.5|false|true|1|nil|x"


def test_a_repeated_claim_name_ends_as_its_last_value(cpath):
    """As the verifier reads it: the last occurrence wins, and a last null removes it."""
    now = int(time.time())
    body = (f'{{"iss":"{APP_ID}","aud":"jitsi","sub":"meet.test","room":"*","exp":{now + 600},'
            '"x":1,"x":2,"context":{"group":"g"},"context":null,"room":"r1","room":"r2"}')
    token = raw_token(b'{"alg":"HS256","typ":"JWT"}', body.encode())
    out = run_lua(cpath, PRELUDE + """
local c, r = v:verify(os.getenv("TOK"))
assert(c, r)
show(c.x, c.context, c.room)
""", env={"TOK": token})
    assert out.strip() == "2|nil|r2"


def test_failures_are_nil_reason_condition(cpath):
    cases = {
        "A": mint(room=DROP),
        "B": mint(key="wrong-secret-wrong-secret-wrong-secret-0123"),
        "C": mint(exp=int(time.time()) - 5, nbf=DROP),
    }
    out = run_lua(cpath, PRELUDE + """
local function refusal(c, r, cond, code, read) return c, r, cond, code, type(read) end
show(refusal(v:verify(os.getenv("A"))))
show(refusal(v:verify(os.getenv("B"))))
print((v:verify(os.getenv("C"), nil, os.time() - 60)).room)
show(refusal(v:verify(nil)))
show(refusal(v:verify(42)))
show(refusal(v:verify("\\255\\254.\\0.x")))
""", env=cases)
    lines = out.splitlines()
    # `now` is honoured: a minute ago the expired token was still valid.
    assert lines[2] == "*", lines[2]
    assert lines[:2] + lines[3:] == [
        "nil|room claim is missing|not-authorized|room-missing|userdata",
        "nil|Invalid signature|not-allowed|invalid-signature|userdata",
        "nil|token required|not-allowed|token-required|userdata",
        "nil|Invalid token|not-allowed|invalid-token|userdata",
        "nil|Invalid token|not-allowed|invalid-token|userdata",
    ]


def test_header_and_key_file(cpath):
    out = run_lua(cpath, """
local jt = require "jitsi_tokens"
local h = jt.header(os.getenv("TOK"))
print(h.alg, h.typ, h.kid)
print(jt.header("garbage"))
print(jt.key_file("my-kid"))
""", env={"TOK": mint(headers={"kid": "k-1"})})
    lines = out.splitlines()
    assert lines[0] == "HS256\tJWT\tk-1"
    assert lines[1] == "nil\tInvalid token"
    assert lines[2] == hashlib.sha256(b"my-kid").hexdigest() + ".pem"


def test_invalid_options_raise_errors_that_say_what_to_fix(cpath):
    out = run_lua(cpath, """
local jt = require "jitsi_tokens"
for _, opts in ipairs {
  {},
  { app_id = 7, app_secret = "x" },
  { app_id = "a", app_secret = "x", asap_accepted_issuers = { 1 } },
  { app_id = "a", app_secret = "x", token_clock_leeway = -1 },
  { app_id = "a", app_secret = "x", signature_algorithm = "XX999" },
  { app_id = "a", asap_key_server = "http://keys.example.com/" },
} do
  local ok, err = pcall(jt.verifier, opts)
  print(ok, (tostring(err):match("^[^\\n]*")))
end
local ok, made = pcall(jt.verifier, { app_id = "a", app_secret = "x", asap_accepted_issuers = "a" })
print(ok, type(made), (select(2, made:verify("a.b.c"))))
""")
    lines = out.splitlines()
    assert lines[:6] == ["false\truntime error: invalid token options: " + m for m in [
        "app_id is required: set app_id to your application id",
        "`app_id` must be a string, not 7",
        "`asap_accepted_issuers` must be a list of strings, not a list holding 1",
        "`token_clock_leeway` must be a whole number of seconds from 0 to 4294967295, not -1",
        'signature_algorithm "XX999" is not supported: use one of HS256, HS384, HS512, '
        "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
        "asap_key_server must use https (plain http is allowed only for a loopback host): "
        "http://keys.example.com",
    ]], out
    # A single issuer as a string is accepted, and the verifier it made works.
    assert lines[6] == "true\tuserdata\tInvalid token", lines[6]


def test_public_key_verification_and_set_keys(cpath):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "ec-1"
    token = mint(key=key, alg="ES256", headers={"kid": "ec-1"})
    out = run_lua(cpath, f"""
local jt = require "jitsi_tokens"
local v = jt.verifier {{ app_id = "{APP_ID}", asap_key_server = "https://keys.example.com",
                         signature_algorithm = "ES256" }}
print(v:uses_public_keys())
print((select(2, v:verify(os.getenv("TOK")))))
print(v:verify(os.getenv("TOK"), os.getenv("PEM")).iss)
print((select(2, v:verify(os.getenv("TOK"), "not a pem"))))
print(v:set_keys(os.getenv("JWKS")))
print(v:verify(os.getenv("TOK")).sub)
print(v:set_keys("{{"))
local hs = jt.verifier {{ app_id = "a", app_secret = "s" }}
print(hs:uses_public_keys())
""", env={"TOK": token, "PEM": pem, "JWKS": json.dumps({"keys": [jwk]})})
    lines = out.splitlines()
    assert lines[0] == "true"
    assert lines[1] == "signature verification key is missing"
    assert lines[2] == APP_ID
    assert lines[3] == "could not obtain public key"
    assert lines[4] == "1\tnil"
    assert lines[5] == "meet.test"
    assert lines[6] == "nil\tkeys document: not valid JSON (EOF while parsing an object at line 1 column 1)", lines[6]
    assert lines[7] == "false"


def test_bad_arguments_are_lua_errors_not_crashes(cpath):
    out = run_lua(cpath, PRELUDE + """
local function first(ok, err) print(ok, (tostring(err):match("^[^\\n]*"))) end
first(pcall(v.verify, v, "a.b.c", {}))
first(pcall(v.verify, v, "a.b.c", nil, "soon"))
first(pcall(v.verify, nil))
first(pcall(jt.key_file))
print("alive")
""")
    lines = out.splitlines()
    # Each names the argument and the type it got, in mlua's words.
    assert lines[:4] == [
        "false\tbad argument #3 to `LuaVerifier.verify`: error converting Lua table to string "
        "(expected string or number)",
        "false\tbad argument #4 to `LuaVerifier.verify`: error converting Lua string to f64 "
        "(expected number or string coercible to number)",
        "false\tbad argument `self` to `LuaVerifier.verify`: error converting Lua nil to userdata "
        "(expected userdata of type 'LuaVerifier')",
        "false\tbad argument #1: error converting Lua nil to string (expected string or number)",
    ], out
    assert lines[4] == "alive"


def test_lua52_build_loads_in_lua52(tmp_path):
    """The Prosody 0.11 build: same interface on Lua 5.2."""
    target = tmp_path_target()
    so = target / "release" / "libjitsi_tokens.so"
    # Always ask cargo: a no-op when up to date, and never a stale module. The first
    # build compiles the dependencies once more for this feature set (minutes).
    cmd = ["cargo", "build", "--release", "-p", "jitsi-tokens-lua", "--no-default-features",
           "--features", "lua52", "--target-dir", str(target)]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}"
    shutil.copy(so, tmp_path / "jitsi_tokens.so")
    out = run_lua(tmp_path, PRELUDE.replace("table.pack(...)", "{n = select('#', ...), ...}") + """
local c = v:verify(os.getenv("TOK"))
local _, r, cond, code = v:verify("123")
show(jt.version ~= nil, c.iss, c.context.user.name, r, cond, code)
""", lua="lua5.2", env={"TOK": mint()})
    assert out.strip() == f"true|{APP_ID}|Alice Example|Invalid token|not-allowed|invalid-token"


def tmp_path_target():
    from pathlib import Path

    base = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return base / "lua52"
