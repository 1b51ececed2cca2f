#!/bin/sh
# Mint a JWT with nothing but the openssl command line (HS256 or RS256).
# Usage: mint_openssl.sh ALG KEYFILE KID CLAIMS_JSON
set -eu
alg=$1 key_file=$2 kid=$3 claims=$4
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
if [ -n "$kid" ]; then
  header=$(printf '{"alg":"%s","typ":"JWT","kid":"%s"}' "$alg" "$kid")
else
  header=$(printf '{"alg":"%s","typ":"JWT"}' "$alg")
fi
input="$(printf '%s' "$header" | b64url).$(printf '%s' "$claims" | b64url)"
case $alg in
  HS256) sig=$(printf '%s' "$input" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(od -An -v -tx1 "$key_file" | tr -d ' \n')" -binary | b64url) ;;
  RS256) sig=$(printf '%s' "$input" | openssl dgst -sha256 -sign "$key_file" -binary | b64url) ;;
  *) echo "mint_openssl.sh: $alg not supported" >&2; exit 2 ;;
esac
printf '%s.%s\n' "$input" "$sig"
