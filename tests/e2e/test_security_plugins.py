"""Issue 16 (key fetching, logs, crit, room patterns) and issue 12 item 12
(jwt_pubkey_cache_size), against a private Prosody with its own key server."""

import hashlib
import os
import subprocess
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import APP_ID, SECRET, WS, Bosh, KeyServer, Prosody, mint, native_module, raw_token, claims
from test_muc import join, joined, refusal

URL_SECRET = "s3cr3t-access-token"


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def ks():
    server = KeyServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jwks_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sec(ks, jwks_key):
    import json

    import jwt
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwks_key.public_key()))
    jwk.update(kid="sec-jwks", alg="RS256", use="sig")
    ks.files["/jwks.json"] = (200, json.dumps({"keys": [jwk]}).encode())
    ks.files["/slow.json"] = (200, json.dumps({"keys": [jwk]}).encode())
    common = f"""
    authentication = "token"
    app_id = "{APP_ID}"
    asap_accepted_audiences = {{ "jitsi" }}
"""
    port = ks.port
    server = Prosody(f"""
VirtualHost "sec.test"
{common}
    asap_key_server = "{ks.base}/keys"
    asap_key_failure_ttl = 1

VirtualHost "spray.test"
{common}
    asap_key_server = "{ks.base}/spray"
    asap_key_failure_ttl = 60

VirtualHost "creds.test"
{common}
    cache_keys_url = "http://keyuser:keypass@127.0.0.1:{port}/jwks.json?access_token={URL_SECRET}"

VirtualHost "tarpit.test"
{common}
    cache_keys_url = "http://127.0.0.1:{port}/slow.json"
    asap_key_cache_ttl = 2
    asap_key_fetch_timeout = 1

VirtualHost "cachesize.test"
{common}
    app_secret = "{SECRET}"
    jwt_pubkey_cache_size = -1

VirtualHost "rx.test"
{common}
    app_secret = "{SECRET}"

Component "conference.rx.test" "muc"
    modules_enabled = {{ "token_verification" }}
    muc_room_locking = false
""")
    try:
        server.start()
        server.wait_for_log(r"Loaded 1 keys from .*slow\.json")
        server.wait_for_log(r"Loaded 1 keys from .*jwks\.json")
        yield server
    finally:
        server.stop()
        log = server.log()
        server.cleanup()
    assert "Traceback" not in log, log[-8000:]


def rs(key, kid, **over):
    return mint(key=key, alg="RS256", headers={"kid": kid}, **over)


def path_of(kid, prefix="/keys"):
    return f"{prefix}/{hashlib.sha256(kid.encode()).hexdigest()}.pem"


def test_unusable_key_body_is_not_cached_and_is_fetched_again(sec, ks):
    """Fails before: the private-key PEM was cached for asap_key_cache_ttl."""
    for n, bad in enumerate([None, b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"]):
        kid = f"bad-body-{n}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path = ks.serve_key(kid, bad or private_pem(key))
        result, _ = Bosh(sec, "sec.test", rs(key, kid)).login()
        assert (result.ok, result.text) == (False, "could not obtain public key")
        assert ks.count(path) == 1
        ks.serve_key(kid, public_pem(key))
        time.sleep(1.2)  # asap_key_failure_ttl = 1
        result, _ = Bosh(sec, "sec.test", rs(key, kid)).login()
        assert result.ok, result
        assert ks.count(path) == 2
        assert Bosh(sec, "sec.test", rs(key, kid)).login()[0].ok
        assert ks.count(path) == 2  # the good key is cached
    assert "not a usable public key" in sec.log()


def test_a_failure_is_remembered_for_asap_key_failure_ttl(sec, ks):
    kid = "negative"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = path_of(kid)
    for _ in range(3):
        result, _ = Bosh(sec, "sec.test", rs(key, kid)).login()
        assert result.text == "could not obtain public key"
    assert ks.count(path) == 1  # fails before: one request per login
    ks.serve_key(kid, public_pem(key))
    time.sleep(1.2)
    assert Bosh(sec, "sec.test", rs(key, kid)).login()[0].ok
    assert ks.count(path) == 2


def test_random_kids_cannot_amplify(sec, ks):
    """50 logins with random kids: at most 10 key-server requests (fails before: 50),
    while a key fetched before the spray keeps working."""
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good_path = ks.serve_key("spray-good", public_pem(good), prefix="/spray")
    assert Bosh(sec, "spray.test", rs(good, "spray-good")).login()[0].ok
    kids = [f"random-{uuid.uuid4().hex}" for _ in range(50)]
    results = []

    def spray(chunk):
        for kid in chunk:
            results.append(Bosh(sec, "spray.test", rs(good, kid)).login()[0])

    threads = [threading.Thread(target=spray, args=(kids[i::5],)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 50
    assert {(r.ok, r.text) for r in results} == {(False, "could not obtain public key")}
    fetched = sum(ks.count(path_of(kid, "/spray")) for kid in kids)
    assert 1 <= fetched <= 10, fetched
    assert Bosh(sec, "spray.test", rs(good, "spray-good")).login()[0].ok
    assert ks.count(good_path) == 1


def test_credentials_in_cache_keys_url_are_not_logged(sec, jwks_key):
    assert Bosh(sec, "creds.test", rs(jwks_key, "sec-jwks")).login()[0].ok
    log = sec.log()
    assert "Loaded 1 keys from http://127.0.0.1:" in log
    assert "access_token=***" in log
    assert URL_SECRET not in log and "keypass" not in log and "keyuser" not in log


def test_key_server_url_in_error_lines_is_loggable(sec, ks):
    result, _ = Bosh(sec, "sec.test", rs(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                          "logged-404")).login()
    assert result.text == "could not obtain public key"
    sec.wait_for_log(r"Key server answered HTTP 404 at http://127\.0\.0\.1:\d+/keys/[0-9a-f]{64}\.pem for kid logged-404")


def test_cache_keys_url_refresh_is_bounded_and_keeps_keys(sec, ks, jwks_key):
    """Fails before: a tarpitting keys URL held the refresh for Prosody's read timeout."""
    ks.delay["/slow.json"] = 30
    try:
        t0 = time.monotonic()
        sec.wait_for_log(r"Could not fetch cache_keys_url http://127\.0\.0\.1:\d+/slow\.json: "
                         r"no answer within 1s; keeping the keys already loaded", timeout=8)
        assert time.monotonic() - t0 < 8
        assert Bosh(sec, "tarpit.test", rs(jwks_key, "sec-jwks")).login()[0].ok
    finally:
        ks.delay.pop("/slow.json", None)


def test_bad_jwt_pubkey_cache_size_fails_closed(sec):
    """Fails before: the pcall hid the missing method and the host logged people in."""
    sec.wait_for_log(r"Token authentication disabled on cachesize\.test, no login is offered: .*"
                     r"jwt_pubkey_cache_size")
    b = Bosh(sec, "cachesize.test", mint())
    assert "ANONYMOUS" not in b.mechanisms(b.open())


def test_set_key_cache_size_is_exported(tmp_path, jwks_key):
    """Fails before: `set_key_cache_size` did not exist on the Lua verifier."""
    import shutil
    shutil.copy(native_module(), tmp_path / "jitsi_tokens.so")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    script = """
local v = require "jitsi_tokens".verifier { app_id = "a", asap_key_server = "https://k.example.com" }
v:set_key_cache_size(1)
assert(v:check_public_key(os.getenv("PEM1")))
assert(v:check_public_key(os.getenv("PEM2")))
local usable, why = v:check_public_key("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n")
print(v:cached_keys(), usable, type(why))
local ok, err = pcall(v.set_key_cache_size, v, -1)
print(ok, (tostring(err):match("jwt_pubkey_cache_size[^\\n]*")))
"""
    env = dict(os.environ, LUA_CPATH_5_4=f"{tmp_path}/?.so;;", PEM1=public_pem(jwks_key).decode(),
               PEM2=public_pem(other).decode())
    p = subprocess.run(["lua5.4", "-e", script], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.splitlines()
    assert first == "1\tnil\tstring", first
    assert second == "false\tjwt_pubkey_cache_size` must be a whole number from 0 to 4294967295, not -1", second


@pytest.mark.parametrize("header", [
    {"alg": "HS256", "typ": "JWT", "crit": ["x-unknown"], "x-unknown": 1},
    {"alg": "HS256", "typ": "JWT", "crit": ["b64"], "b64": False},
])
def test_crit_and_unencoded_payload_are_refused(sec, header):
    """Fails before: both tokens logged in."""
    token = raw_token(header, claims(sub="rx.test"))
    result, _ = Bosh(sec, "rx.test", token).login()
    assert (result.ok, result.condition, result.text) == (False, "not-allowed", "Invalid header")
    assert Bosh(sec, "rx.test", raw_token({"alg": "HS256", "typ": "JWT"}, claims(sub="rx.test"))).login()[0].ok


def timed_join(sec, pattern, room, out):
    ws = WS(sec, "rx.test", mint(sub="rx.test", room=pattern, context={"room": {"regex": True}}))
    try:
        assert ws.login().ok
        t0 = time.monotonic()
        out["presence"] = join(ws, f"{room}@conference.rx.test", "p")
        out["seconds"] = time.monotonic() - t0
    finally:
        ws.close()


@pytest.mark.parametrize("pattern,room", [
    (".-.-.-.-.-.-.-.-x", "a" * 30),  # the issue's: more than 3 quantifiers
    (".-.-.-x", "a" * 300),  # 3 quantifiers, but too costly for a name this long
    ("a" * 129, "a" * 129),  # longer than token_regex_room_max_length
])
def test_costly_room_pattern_is_answered_fast_and_blocks_nobody(sec, pattern, room):
    """Fails before: the first case held Prosody's event loop ~2 s, the second longer."""
    out = {}
    t = threading.Thread(target=timed_join, args=(sec, pattern, room, out))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert Bosh(sec, "rx.test", mint(sub="rx.test")).login()[0].ok
    login_seconds = time.monotonic() - t0
    t.join(60)
    assert refusal(out["presence"])[2] == ["invalid-regex"]
    assert out["seconds"] < 1.0, out
    assert login_seconds < 1.0, login_seconds


def test_room_pattern_within_bounds_still_matches(sec):
    ws = WS(sec, "rx.test", mint(sub="rx.test", room="team%-%d+", context={"room": {"regex": True}}))
    try:
        assert ws.login().ok
        assert joined(join(ws, f"team-{uuid.uuid4().int % 10**6}@conference.rx.test", "p"))
        assert refusal(join(ws, "team-x@conference.rx.test", "p"))[2] == ["room-name-does-not-match"]
    finally:
        ws.close()
