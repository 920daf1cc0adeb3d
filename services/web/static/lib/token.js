// The per-call token (docs/identity.md, "The call token"): a JWT signed with EdDSA by the
// principal's key, for one method and the SHA-256 of the exact request bytes sent.

import { sha256, toBase64Url, utf8 } from "./bytes.js";

const LIFETIME_S = 60;

// `claims` adds to the standard ones (an institution's `role` and `practitioner`).
export async function callToken(key, principal, method, request, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const jti = toBase64Url(crypto.getRandomValues(new Uint8Array(18)));
  const header = { alg: "EdDSA", kid: key.keyId, typ: "JWT" };
  const payload = { ...claims, iss: principal, aud: method, iat: now, exp: now + LIFETIME_S, jti,
    req: toBase64Url(await sha256(request)) };
  const input = `${toBase64Url(utf8(JSON.stringify(header)))}.${toBase64Url(utf8(JSON.stringify(payload)))}`;
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, utf8(input)));
  return `${input}.${toBase64Url(signature)}`;
}
