"""Per-call tokens: short-lived, single-use, bound to one method, signed by the caller's key.

A token is a JWT (EdDSA/Ed25519) with
  iss  the principal: "org:<id>", "patient:<id>", "auditor:<id>" or "operator"
  aud  the full gRPC method name, e.g. "/consentry.v1.ExchangeService/FetchRecords": one
       string, never a list (a token is for one method)
  iat, exp   exp - iat <= 300 s
  jti  a random id, accepted once
  kid (header)  the id of the registered identity key that signed it
  role, practitioner  for institutions: the acting staff member
It travels in the `authorization` metadata as "Bearer <token>".
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.signing import SigningKey

from consentry.services import clock

MAX_LIFETIME_S = 300
CLOCK_SKEW_S = 30
METADATA_KEY = "authorization"


def identity_key_id(public_key: bytes) -> str:
    """Stable id of an Ed25519 identity key: "ed25519:" + 16 hex digits of its SHA-256."""
    return "ed25519:" + hashlib.sha256(b"consentry-ed25519-v1" + public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """Who signs tokens on the client side."""

    principal: str
    signing_key: SigningKey
    role: str = ""
    practitioner: str = ""

    @property
    def key_id(self) -> str:
        return identity_key_id(bytes(self.signing_key.verify_key))

    def token(self, method: str, lifetime_s: int = 60, now: float | None = None) -> str:
        now = int(time.time() if now is None else now)
        claims = {
            "iss": self.principal,
            "aud": method,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": secrets.token_urlsafe(18),
        }
        if self.principal.startswith("org:"):
            claims["role"] = self.role
            claims["practitioner"] = self.practitioner
        private = Ed25519PrivateKey.from_private_bytes(bytes(self.signing_key))
        return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": self.key_id})


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
    """The token is malformed, not signed by the claimed key, expired or not for this call."""


def unverified_header(token: str) -> tuple[str, str]:
    """(principal, key id) as the token claims them, to look up the key that must verify it."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("the token is not a well-formed signed token") from exc
    principal, key_id = claims.get("iss"), header.get("kid")
    if not isinstance(principal, str) or not isinstance(key_id, str):
        raise TokenError("the token names no principal or no key id")
    return principal, key_id


def verify(token: str, public_key: bytes, method: str, key_id: str, now: float | None = None) -> Claims:
    """Checks signature, audience, lifetime and required claims against the key `key_id` names;
    raises TokenError. `now` defaults to the service's clock."""
    now = clock.now_s() if now is None else now
    try:
        claims = jwt.decode(
            token,
            Ed25519PublicKey.from_public_bytes(public_key),
            algorithms=["EdDSA"],
            audience=method,
            leeway=CLOCK_SKEW_S,
            # strict_aud: `aud` must be one string equal to the method; by default PyJWT also
            # accepts a list containing it, which would make one token good for several methods.
            options={"require": ["iss", "aud", "iat", "exp", "jti"], "verify_iat": True, "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("the token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenError("the token was issued for a different method") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("the token signature or claims are invalid") from exc
    iat, exp = claims["iat"], claims["exp"]
    if not (isinstance(iat, int) and isinstance(exp, int)) or exp - iat > MAX_LIFETIME_S:
        raise TokenError(f"the token lives longer than {MAX_LIFETIME_S} seconds")
    # PyJWT checked both against the system time; the service's clock has the last word.
    if exp <= now - CLOCK_SKEW_S:
        raise TokenError("the token has expired")
    if iat > now + CLOCK_SKEW_S:
        raise TokenError("the token was issued in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
        raise TokenError("the token id must be 16 to 64 characters")
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
