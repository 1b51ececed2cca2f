"""Fixtures: one Prosody for the suite with a host per configuration under test,
a counting key server and an unreachable one, and RSA keys made at test time."""

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import APP_ID, JWKS_KID, RS_KID, SECRET, BlackHole, KeyServer, Prosody, free_port


def _rsa():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem


@pytest.fixture(scope="session")
def rsa_key():
    return _rsa()


@pytest.fixture(scope="session")
def jwks_key():
    return _rsa()


@pytest.fixture(scope="session")
def keyserver(rsa_key, jwks_key):
    ks = KeyServer()
    ks.serve_key(RS_KID, rsa_key[1])
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwks_key[0].public_key()))
    jwk.update(kid=JWKS_KID, alg="RS256", use="sig")
    ks.files["/jwks.json"] = (200, json.dumps({"keys": [jwk]}).encode())
    yield ks
    ks.stop()


@pytest.fixture(scope="session")
def blackhole():
    bh = BlackHole()
    yield bh
    bh.stop()


def hosts(keyserver: KeyServer, blackhole: BlackHole) -> str:
    closed_port = free_port()  # nothing listens there: connection refused
    common = f"""
    authentication = "token"
    app_id = "{APP_ID}"
    asap_accepted_audiences = {{ "jitsi" }}
"""
    return f"""
VirtualHost "meet.test"
{common}
    app_secret = "{SECRET}"
    modules_enabled = {{ "presence_identity" }}

Component "conference.meet.test" "muc"
    modules_enabled = {{ "token_verification" }}
    token_verification_allowlist = {{ "focus.meet.test", "anon.test" }}
    muc_room_locking = false

VirtualHost "empty.test"
{common}
    app_secret = "{SECRET}"
    allow_empty_token = true

Component "conference.empty.test" "muc"
    modules_enabled = {{ "token_verification" }}
    token_verification_require_token_for_moderation = true
    muc_room_locking = false

VirtualHost "keys.test"
{common}
    asap_key_server = "{keyserver.base}/keys"

VirtualHost "dead.test"
{common}
    asap_key_server = "http://127.0.0.1:{blackhole.port}/keys"
    asap_key_fetch_timeout = 2

VirtualHost "ttl.test"
{common}
    asap_key_server = "{keyserver.base}/keys"
    asap_key_cache_ttl = 2

VirtualHost "refused.test"
{common}
    asap_key_server = "http://127.0.0.1:{closed_port}/keys"

VirtualHost "jwks.test"
{common}
    cache_keys_url = "{keyserver.base}/jwks.json"

VirtualHost "broken.test"
    authentication = "token"
    app_secret = "no app_id here"

VirtualHost "anon.test"
    authentication = "anonymous"
"""


@pytest.fixture(scope="session")
def prosody(keyserver, blackhole):
    server = Prosody(hosts(keyserver, blackhole), global_config='muc_mapper_domain_base = "meet.test"')
    with server.running():
        server.wait_for_log(r"Loaded 1 keys from")
        yield server


@pytest.fixture
def clients():
    """Client connections a test opens (append them); closed after it."""
    opened = []
    yield opened
    for ws in opened:
        ws.close()
