"""Public keys from a key server and from cache_keys_url, fetched by Prosody's
asynchronous HTTP client."""

import hashlib
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import JWKS_KID, RS_KID, SECRET, WS, Bosh, mint


def rs_token(key, kid, **over):
    return mint(key=key, alg="RS256", headers={"kid": kid}, **over)


def key_path(kid: str) -> str:
    return f"/keys/{hashlib.sha256(kid.encode()).hexdigest()}.pem"


def test_rs256_via_key_server_then_from_cache(prosody, keyserver, rsa_key):
    path = key_path(RS_KID)
    before = keyserver.count(path)
    result, jid = Bosh(prosody, "keys.test", rs_token(rsa_key[0], RS_KID)).login()
    assert result.ok, result
    assert "@keys.test/" in jid
    assert keyserver.count(path) in (before, before + 1)
    fetched = keyserver.count(path)
    # Second and third logins: served from the cache, no new request.
    for _ in range(2):
        result, _ = Bosh(prosody, "keys.test", rs_token(rsa_key[0], RS_KID)).login()
        assert result.ok, result
    assert keyserver.count(path) == fetched >= 1
    # Over WebSocket too.
    ws = WS(prosody, "keys.test", rs_token(rsa_key[0], RS_KID))
    try:
        assert ws.login().ok
    finally:
        ws.close()


def test_key_server_refusals(prosody, keyserver, rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        (mint(key=rsa_key[0], alg="RS256"), "'kid' claim is missing"),
        (mint(key=SECRET, headers={"kid": RS_KID}), "Invalid or incorrect alg"),
        (rs_token(other, RS_KID), "Invalid signature"),
        (rs_token(rsa_key[0], "no-such-kid"), "could not obtain public key"),
    ]
    for token, text in cases:
        result, _ = Bosh(prosody, "keys.test", token).login()
        assert (result.ok, result.condition, result.text) == (False, "not-allowed", text)


def test_failed_fetch_is_remembered_for_a_short_time(prosody, keyserver):
    """A failure is not cached like a key (test_security_plugins: refetched after
    asap_key_failure_ttl), but within that time (10 s here) it is not fetched again."""
    kid = "appears-later"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = key_path(kid)
    result, _ = Bosh(prosody, "keys.test", rs_token(key, kid)).login()
    assert result.text == "could not obtain public key"
    assert keyserver.count(path) == 1
    keyserver.serve_key(kid, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result, _ = Bosh(prosody, "keys.test", rs_token(key, kid)).login()
    assert (result.ok, result.text) == (False, "could not obtain public key")
    assert keyserver.count(path) == 1


def test_non_200_and_non_pem_answers_are_refused(prosody, keyserver):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    keyserver.serve_key("status-500", pem, status=500)
    keyserver.serve_key("not-pem", b"<html>hello</html>")
    keyserver.serve_key("private-pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    for kid in ["status-500", "not-pem", "private-pem"]:
        result, _ = Bosh(prosody, "keys.test", rs_token(key, kid)).login()
        assert result.text == "could not obtain public key", (kid, result)


def test_concurrent_logins_share_one_fetch(prosody, keyserver):
    kid = "slow-key"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = keyserver.serve_key(kid, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    keyserver.delay[path] = 1.0
    results = []

    def login():
        results.append(Bosh(prosody, "keys.test", rs_token(key, kid)).login()[0])

    threads = [threading.Thread(target=login) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4 and all(r.ok for r in results), results
    assert keyserver.count(path) == 1


def test_unreachable_key_server_fails_fast_while_others_log_in(prosody, rsa_key):
    outcome = {}

    def stuck_login():
        t0 = time.monotonic()
        outcome["result"] = Bosh(prosody, "dead.test", rs_token(rsa_key[0], RS_KID)).login()[0]
        outcome["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=stuck_login)
    t.start()
    time.sleep(0.3)
    # While that login waits for the key, the server keeps serving everyone else.
    for _ in range(3):
        result, _ = Bosh(prosody, "meet.test", mint()).login()
        assert result.ok, result
    # They finished while the stuck login still waits (its timeout is 2 s).
    assert t.is_alive(), "other logins were held up by the key fetch"
    t.join(20)
    result = outcome["result"]
    assert (result.ok, result.text) == (False, "could not obtain public key")
    assert 1.5 < outcome["seconds"] < 6, outcome


def test_cache_keys_url_with_jwks(prosody, keyserver, jwks_key, rsa_key):
    before = keyserver.count("/jwks.json")
    for _ in range(2):
        result, jid = Bosh(prosody, "jwks.test", rs_token(jwks_key[0], JWKS_KID)).login()
        assert result.ok, result
        assert "@jwks.test/" in jid
    # Preloaded: logins do not fetch anything.
    assert keyserver.count("/jwks.json") == before
    result, _ = Bosh(prosody, "jwks.test", rs_token(rsa_key[0], RS_KID)).login()
    assert (result.ok, result.text) == (False, "signature verification key is missing")
    result, _ = Bosh(prosody, "jwks.test", rs_token(rsa_key[0], JWKS_KID)).login()
    assert (result.ok, result.text) == (False, "Invalid signature")


def test_refused_connection_fails_at_once(prosody, rsa_key):
    t0 = time.monotonic()
    result, _ = Bosh(prosody, "refused.test", rs_token(rsa_key[0], RS_KID)).login()
    assert (result.ok, result.text) == (False, "could not obtain public key")
    assert time.monotonic() - t0 < 1.5  # no waiting for the timeout
    good = Bosh(prosody, "meet.test", mint()).login()[0]
    assert good.ok


def test_key_cache_ttl_expires(prosody, keyserver):
    kid = "short-lived"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = keyserver.serve_key(kid, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert Bosh(prosody, "ttl.test", rs_token(key, kid)).login()[0].ok
    assert Bosh(prosody, "ttl.test", rs_token(key, kid)).login()[0].ok
    assert keyserver.count(path) == 1  # within the TTL (2 s, whole seconds): cached
    time.sleep(3.1)
    assert Bosh(prosody, "ttl.test", rs_token(key, kid)).login()[0].ok
    assert keyserver.count(path) == 2  # expired: fetched again
