#!/usr/bin/env python3
"""Mint a JWT with PyJWT (an independent implementation) for the interop tests.

Usage: mint_pyjwt.py ALG KEYFILE KID CLAIMS_JSON
KEYFILE holds the HMAC secret (HS*) or a PEM private key; KID "" means no kid.
Prints the token on stdout.
"""
import json
import sys

import jwt


def main() -> None:
    alg, key_file, kid, claims = sys.argv[1:5]
    with open(key_file, "rb") as f:
        key = f.read()
    headers = {"typ": "JWT"}
    if kid:
        headers["kid"] = kid
    token = jwt.encode(json.loads(claims), key, algorithm=alg, headers=headers)
    print(token)


if __name__ == "__main__":
    main()
