"""Per-call tokens: short-lived, single-use, bound to one method and one request's exact bytes,
signed by the caller's current identity key. docs/identity.md specifies the format in full.

A token is a JWT (JWS compact form, EdDSA/Ed25519) with
  kid (header)  the signing key's id, `identity_key_id(public key)`
  iss  the principal: "org:<id>", "patient:<id>", "auditor:<id>" or "operator"
  aud  the full gRPC method name, e.g. "/consentry.v1.ExchangeService/FetchRecords": one
       string, never a list (a token is for one method)
  iat, exp   whole seconds; 0 < exp - iat <= 300
  jti  a random id of 16 to 64 characters, accepted once
  req  base64url (no padding) of SHA-256 over the request message's exact bytes on the wire
  role, practitioner  for institutions: the acting staff member
It travels in the `authorization` metadata as "Bearer <token>".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consentry.services import clock
from consentry.services.signer import Ed25519Signer

MAX_LIFETIME_S = 300
CLOCK_SKEW_S = 30
METADATA_KEY = "authorization"
REQUEST_CLAIM = "req"


def identity_key_id(public_key: bytes) -> str:
    """Stable id of an Ed25519 identity key: "ed25519:" + 16 hex digits of its SHA-256."""
    return "ed25519:" + hashlib.sha256(b"consentry-ed25519-v1" + public_key).hexdigest()[:16]


def request_hash(request: bytes) -> str:
    """The `req` claim for these request bytes: base64url, unpadded, of their SHA-256."""
    return _b64url(hashlib.sha256(request).digest())


@dataclass(frozen=True)
class Caller:
    """Who signs tokens on the client side."""

    principal: str
    signing_key: Ed25519Signer
    role: str = ""
    practitioner: str = ""

    @property
    def key_id(self) -> str:
        return identity_key_id(bytes(self.signing_key.verify_key))

    def token(self, method: str, request: bytes, lifetime_s: int = 60, now: float | None = None) -> str:
        """A token for one call of `method` whose request message serializes to `request`."""
        now = int(time.time() if now is None else now)
        claims = {
            "iss": self.principal,
            "aud": method,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": secrets.token_urlsafe(18),
            REQUEST_CLAIM: request_hash(request),
        }
        if self.principal.startswith("org:"):
            claims["role"] = self.role
            claims["practitioner"] = self.practitioner
        # A compact JWS (RFC 7515) signed by whatever holds the key: a key in memory or in a
        # token, which no JWT library can be handed. The server checks it with PyJWT.
        header = {"alg": "EdDSA", "kid": self.key_id, "typ": "JWT"}
        signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims))}".encode("ascii")
        signature = self.signing_key.sign(signing_input).signature
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


@dataclass(frozen=True)
class Claims:
    principal: str
    method: str
    jti: str
    issued_at: int
    expires_at: int
    key_id: str
    role: str = ""
    practitioner: str = ""


class TokenError(Exception):
    """The token is malformed, not signed by the claimed key, expired or not for this call.

    `reason` is the refusal's code (errors.Unauthenticated.REASONS) for the check that failed."""

    def __init__(self, message: str, reason: str = "invalid_claims") -> None:
        super().__init__(message)
        self.reason = reason


def unverified_header(token: str) -> tuple[str, str]:
    """(principal, key id) as the token claims them, to look up the key that must verify it."""
    try:
        # One parse for both parts: every call pays for it before its key is even looked up.
        unverified = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("the token is not a well-formed signed token", "malformed_token") from exc
    principal, key_id = unverified["payload"].get("iss"), unverified["header"].get("kid")
    if not isinstance(principal, str) or not isinstance(key_id, str):
        raise TokenError("the token names no principal or no key id", "malformed_token")
    return principal, key_id


def verify(token: str, public_key: bytes, method: str, key_id: str, request_digest: bytes,
           now: float | None = None) -> Claims:
    """Checks signature, audience, times, token id and request binding against the key `key_id`
    names and the SHA-256 `request_digest` of the bytes received; raises TokenError.

    Times are judged at `now` (epoch seconds; the service's clock when None)."""
    now = clock.now_s() if now is None else now
    try:
        claims = jwt.decode(
            token, Ed25519PublicKey.from_public_bytes(public_key), algorithms=["EdDSA"], audience=method,
            # PyJWT checks the signature, the audience and that the claims are present; times are
            # ours to check, at `now` (PyJWT would judge them by the system clock).
            # strict_aud: `aud` must be one string equal to the method; by default PyJWT also
            # accepts a list containing it, which would make one token good for several methods.
            options={"require": ["iss", "aud", "iat", "exp", "jti"], "strict_aud": True,
                     "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise TokenError("the token was issued for a different method", "wrong_method") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("the token signature or claims are invalid", "bad_signature") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("the token signature or claims are invalid") from exc
    iat, exp = _check_times(claims, now)
    jti = claims["jti"]
    if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
        raise TokenError("the token id must be 16 to 64 characters")
    _check_request(claims, request_digest)
    return Claims(
        principal=claims["iss"],
        method=method,
        jti=jti,
        issued_at=iat,
        expires_at=exp,
        key_id=key_id,
        role=str(claims.get("role", "")),
        practitioner=str(claims.get("practitioner", "")),
    )


def _check_times(claims: dict, now: float) -> tuple[int, int]:
    iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf", claims["iat"])
    if not all(_whole_seconds(t) for t in (iat, exp, nbf)):
        raise TokenError("the token's times must be whole seconds")
    if not 0 < exp - iat <= MAX_LIFETIME_S:
        raise TokenError(f"the token must expire after it is issued and live at most {MAX_LIFETIME_S} seconds")
    if exp <= now - CLOCK_SKEW_S:
        raise TokenError("the token has expired", "expired")
    if max(iat, nbf) > now + CLOCK_SKEW_S:
        raise TokenError("the token was issued in the future", "not_yet_valid")
    return iat, exp


def _check_request(claims: dict, request_digest: bytes) -> None:
    claimed = claims.get(REQUEST_CLAIM)
    if not isinstance(claimed, str):
        raise TokenError(f"the token carries no request hash ({REQUEST_CLAIM})", "request_mismatch")
    if not hmac.compare_digest(claimed.encode("ascii", "replace"), _b64url(request_digest).encode("ascii")):
        raise TokenError("the token was issued for a different request", "request_mismatch")


def _whole_seconds(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
