"""The Lua/Rust seam on a key-server host: a login decodes its token once (cold
cache, warm cache, refused), the plugin decides on the verifier's codes, and the
refusal log line names kid/iss/sub from what verification read."""

import re
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import APP_ID, Bosh, KeyServer, Prosody, claims

MODULES = Path(__file__).resolve().parent / "modules_seam"
HOST = "seam.test"


@pytest.fixture(scope="module")
def seam():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    ks = KeyServer()
    ks.serve_key("seam-kid", pem)
    server = Prosody(f"""
VirtualHost "{HOST}"
    authentication = "token"
    app_id = "{APP_ID}"
    asap_accepted_audiences = {{ "jitsi" }}
    asap_key_server = "{ks.base}/keys"
    modules_enabled = {{ "seam_decodes" }}
""", plugin_dirs=[MODULES])
    try:
        with server.running():
            yield server, key
    finally:
        ks.stop()


def login(server, token: str):
    room = "seam-" + uuid.uuid4().hex[:10]
    result, _ = Bosh(server, HOST, query=f"token={token}&room={room}").login()
    m = server.wait_for_log(rf"seam decodes room={room} n=(\d+)")
    return result, room, int(m.group(1))


def rs(key, kid: str, **over) -> str:
    return jwt.encode(claims(sub=HOST, **over), key, algorithm="RS256", headers={"kid": kid})


def test_a_key_server_login_decodes_its_token_once(seam):
    server, key = seam
    for _ in ("cold cache", "warm cache"):
        result, _, decodes = login(server, rs(key, "seam-kid"))
        assert result.ok, result
        assert decodes == 1


@pytest.mark.parametrize("kid,signer,text", [
    ("seam-kid", "other", "Invalid signature"),
    ("seam-no-such-kid", "ours", "could not obtain public key"),
])
def test_a_refused_key_server_login_decodes_once_and_logs_what_it_read(seam, kid, signer, text):
    server, key = seam
    signing = key if signer == "ours" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result, room, decodes = login(server, rs(signing, kid, iss=APP_ID))
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", text)
    assert decodes == 1
    assert re.search(rf"Error verifying token err:not-allowed, reason:{text} tenant:\S* room:{room} "
                     rf"kid:{kid} iss:{APP_ID} sub:{HOST} session:\S+", server.log()), server.log()[-3000:]


# ---------------------------------------------------------------------------
# The module's side of the seam, in the real lua5.4

from test_lua_module import cpath, run_lua  # noqa: E402,F401  (fixture and helper)


def test_a_refusal_hands_back_its_code_and_what_it_read(cpath):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    out = run_lua(cpath, f"""
local jt = require "jitsi_tokens"
local v = jt.verifier {{ app_id = "{APP_ID}", asap_key_server = "https://keys.example/k" }}
local start = jt.decodes()
local c, r, cond, code, read = v:verify(os.getenv("TOK"))
print(c, r, cond, code, read.kid, read.iss, read.sub)
print(read:finish(nil))
local c2, _, _, _, kid = read:finish(os.getenv("PEM"))
print(c2.sub, kid, jt.decodes() - start)
local _, r3, _, code3, read3 = v:verify(os.getenv("NOKID"))
print(r3, code3, read3.kid, read3.iss, pcall(read3.finish, read3, os.getenv("PEM")))
""", env={"TOK": rs(key, "k-1"), "PEM": pem, "NOKID": jwt.encode(claims(sub=HOST), key, algorithm="RS256")})
    lines = out.splitlines()
    assert lines[0] == (f"nil\tsignature verification key is missing\tnot-allowed\tkey-missing\tk-1\t{APP_ID}\t{HOST}")
    assert lines[1].split("\t")[:4] == ["nil", "could not obtain public key", "not-allowed", "no-public-key"]
    assert lines[2] == f"{HOST}\tk-1\t1"
    assert lines[3].startswith(f"'kid' claim is missing\tkid-missing\tnil\t{APP_ID}\tfalse\t"), lines[3]
    assert "only a refusal with code key-missing waits for a key" in lines[3]
