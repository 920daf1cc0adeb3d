"""Authentication of every call: the token names a registered key, is signed by it, is for
this method, is fresh, and has not been used before. An institution's token also names the
acting practitioner and role: the practitioner must be registered with the institution (and not
removed) and hold that role, and the role must be one the institution's kind can have. On a
mutual-TLS server the connection's client certificate must be bound to the key that verified
the token (identity/certificate_binding.py)."""

from __future__ import annotations

from collections.abc import Iterable

import jwt
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from consentry.services import clock
from consentry.services.errors import Unauthenticated
from consentry.services.identity import staff, tokens
from consentry.services.identity.certificate_binding import check_bound
from consentry.services.identity.principals import Principal, parse_principal
from consentry.services.store.db import Database
from consentry.services.store.models import Institution, Practitioner, PrincipalKey, TokenUse

_PRUNE_EVERY = 500
# PyJWT's errors, most specific first, as refusal reason codes (errors.Unauthenticated.REASONS).
_JWT_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_method"),
    (jwt.InvalidSignatureError, "bad_signature"),
)
# A call's metadata as gRPC hands it over: (key, value) pairs, binary values for "-bin" keys.
Metadata = Iterable[tuple[str, str | bytes]]


class Authenticator:
    def __init__(self, db: Database, *, mutual_tls: bool = False) -> None:
        self._db = db
        self._calls = 0
        self._mutual_tls = mutual_tls

    def authenticate(self, metadata: Metadata, method: str, certificate: bytes | None = None) -> Principal:
        """The caller; `certificate` is the client certificate (PEM) its connection presented."""
        token = _bearer(metadata)
        try:
            claimed, key_id = tokens.unverified_header(token)
        except tokens.TokenError as exc:
            raise Unauthenticated(str(exc), reason="malformed_token") from exc
        principal = parse_principal(claimed)
        public_key = self._identity_key(principal.id, key_id)
        try:
            claims = tokens.verify(token, public_key, method, key_id)
        except tokens.TokenError as exc:
            raise Unauthenticated(str(exc), reason=_failure(exc)) from exc
        kind = self._staff_member(principal, claims) if principal.kind == "org" else ""
        self._consume(claims)
        self._bound_to_connection(principal, public_key, certificate)
        return Principal(principal.id, role=claims.role, practitioner=claims.practitioner, institution_kind=kind)

    def _staff_member(self, principal: Principal, claims: tokens.Claims) -> str:
        """The institution's kind, once the token's practitioner and role are its own.

        The token is verified, so the institution is proven and may be named; the practitioner
        id is its text and is never put in a message (messages are ledgered), and a role only
        once it is known to be one of the policy's."""
        if not (_staff_id(claims.role) and _staff_id(claims.practitioner)):
            raise Unauthenticated("an institution's token must name the acting staff role and practitioner id",
                                  reason="bad_staff_claims", proven=principal.id)
        if claims.role not in staff.STAFF_ROLES:
            raise Unauthenticated("the token's role is not a staff role", reason="unknown_role", proven=principal.id)
        with self._db.read() as session:
            institution = session.get(Institution, principal.name)
            member = session.get(Practitioner, (principal.name, claims.practitioner))
        kind = staff.kind_name(institution.kind) if institution is not None else ""
        if not staff.may_have(kind, claims.role):
            raise Unauthenticated(f"an institution of kind {kind or 'unknown'} cannot have role {claims.role}",
                                  reason="role_not_allowed", proven=principal.id)
        if member is None or member.removed_ns is not None:
            raise Unauthenticated("the token's practitioner is not registered with this institution",
                                  reason="unregistered_practitioner", proven=principal.id)
        if claims.role not in member.roles:
            raise Unauthenticated(f"the token's practitioner does not hold role {claims.role}",
                                  reason="role_not_held", proven=principal.id)
        return kind

    def _bound_to_connection(self, principal: Principal, identity_key: bytes, certificate: bytes | None) -> None:
        """After the token is spent: a stolen token refused here cannot be tried again, so it
        ledgers at most one refusal naming its principal."""
        check_bound(principal, identity_key, certificate, mutual_tls=self._mutual_tls)

    def _identity_key(self, principal: str, key_id: str) -> bytes:
        with self._db.read() as session:
            key = session.get(PrincipalKey, key_id)
        if key is None or key.principal != principal or key.key_type != "identity":
            raise Unauthenticated("the token's key is not registered for its principal", reason="unknown_key")
        if key.status == "revoked":
            raise Unauthenticated("the token's key has been revoked", reason="revoked_key")
        return key.public_key

    def _consume(self, claims: tokens.Claims) -> None:
        """Records the token id; a second use of the same id is a replay."""
        expires_ns = (claims.expires_at + tokens.CLOCK_SKEW_S) * 1_000_000_000
        try:
            with self._db.write() as session:
                session.add(TokenUse(principal=claims.principal, jti=claims.jti, expires_ns=expires_ns))
                self._calls += 1
                if self._calls % _PRUNE_EVERY == 0:
                    session.execute(delete(TokenUse).where(TokenUse.expires_ns < clock.now_ns()))
        except IntegrityError as exc:
            raise Unauthenticated("the token has already been used (replay)", reason="replayed") from exc


def _bearer(metadata: Metadata) -> str:
    for key, value in metadata or ():
        if key == tokens.METADATA_KEY and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer "):]
    raise Unauthenticated("the call carries no 'authorization: Bearer <token>' metadata", reason="no_token")


def _failure(error: tokens.TokenError) -> str:
    """The refusal's reason code, from the check that failed (PyJWT's error, where it made it)."""
    cause = error.__cause__
    for kind, reason in _JWT_FAILURES:
        if isinstance(cause, kind):
            return reason
    return "invalid_claims"


def _staff_id(value: str) -> bool:
    return 0 < len(value) <= 64 and value.replace("-", "").replace("_", "").replace(".", "").isalnum()
