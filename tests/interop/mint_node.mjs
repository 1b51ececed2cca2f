#!/usr/bin/env node
// Mint a JWT with npm `jose` or `jsonwebtoken` for the interop tests.
// Usage: node mint_node.mjs (jose|jsonwebtoken) ALG KEYFILE KID CLAIMS_JSON
// KEYFILE holds the HMAC secret (HS*) or a PKCS#8 PEM private key; KID "" means none.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";

// jose uses the global WebCrypto, which Debian 12's Node 18 does not expose.
globalThis.crypto ??= webcrypto;

const [lib, alg, keyFile, kid, claimsJson] = process.argv.slice(2);
const key = readFileSync(keyFile);
const claims = JSON.parse(claimsJson);
const hmac = alg.startsWith("HS");

if (lib === "jose") {
  const jose = await import("jose");
  const header = { alg, typ: "JWT" };
  if (kid) header.kid = kid;
  const signingKey = hmac
    ? new Uint8Array(key)
    : await jose.importPKCS8(key.toString("utf8"), alg);
  const token = await new jose.SignJWT(claims).setProtectedHeader(header).sign(signingKey);
  console.log(token);
} else if (lib === "jsonwebtoken") {
  const jwt = (await import("jsonwebtoken")).default;
  const options = { algorithm: alg, header: { typ: "JWT" }, noTimestamp: true };
  if (kid) options.keyid = kid;
  console.log(jwt.sign(claims, hmac ? key : key.toString("utf8"), options));
} else {
  console.error(`unknown library ${lib}`);
  process.exit(2);
}
