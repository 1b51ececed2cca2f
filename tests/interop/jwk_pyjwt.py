#!/usr/bin/env python3
"""Print the JWK of a PEM public key, as PyJWT's algorithm classes write it.

Usage: jwk_pyjwt.py (RSA|EC|OKP) PUBLIC_PEM_FILE
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def main() -> None:
    kty, path = sys.argv[1:3]
    with open(path, "rb") as f:
        key = load_pem_public_key(f.read())
    cls = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}[kty]
    print(json.dumps(cls.to_jwk(key, as_dict=True)))


if __name__ == "__main__":
    main()
