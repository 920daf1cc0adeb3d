"""Authentication of every call: the token names the principal's current key (or the key it
replaced, within the grace), is signed by it, is for this method and these request bytes, is
fresh, and has not been used before (its use is written with the call's first write:
identity/token_uses.py). An institution's token also names the acting practitioner
and role: the practitioner must be registered with the institution (and not removed) and hold
that role, and the role must be one the institution's kind can have. On a mutual-TLS server the
connection's client certificate must be bound to the key that verified the token
(identity/certificate_binding.py). docs/identity.md, docs/transport.md."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import Unauthenticated
from consentry.services.identity import staff, tokens
from consentry.services.identity.certificate_binding import check_bound
from consentry.services.identity.principals import Principal, parse_principal
from consentry.services.identity.token_uses import Spend
from consentry.services.store.db import Database
from consentry.services.store.models import Institution, Practitioner, PrincipalKey

# What a token's role and practitioner claims may hold before they are looked up (ASCII only).
_STAFF_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Calls that change who may sign for a principal: a key in its grace cannot make them, or a key
# that leaked before a routine rotation could rotate again and keep the principal.
KEY_MANAGEMENT = frozenset(f"/consentry.v1.RegistryService/{name}" for name in (
    "RotateInstitutionKey", "RevokeInstitutionKey", "RegisterPractitioner", "RemovePractitioner",
))
# A call's metadata as gRPC hands it over: (key, value) pairs, binary values for "-bin" keys.
Metadata = Iterable[tuple[str, str | bytes]]


class Authenticated(NamedTuple):
    """Who called, and the token they signed the call with."""

    principal: Principal
    token: str


class Authenticator:
    def __init__(self, db: Database, key_grace_s: float = 600.0, *, mutual_tls: bool = False) -> None:
        if key_grace_s < 0:
            raise ValueError("the key grace must be 0 or more seconds")
        self._mutual_tls = mutual_tls
        self._db = db
        self._grace_ns = int(key_grace_s * 1_000_000_000)

    def authenticate(self, metadata: Metadata, method: str, request_digest: bytes, spend: Spend,
                     certificate: bytes | None = None) -> Authenticated:
        """The caller of `method`, whose request bytes have the SHA-256 `request_digest`;
        `certificate` is the client certificate (PEM) its connection presented. The verified
        token's id goes into `spend`, which the call's first write records."""
        token = _bearer(metadata)
        try:
            claimed, key_id = tokens.unverified_header(token)
        except tokens.TokenError as exc:
            raise Unauthenticated(str(exc), reason=exc.reason) from exc
        principal = parse_principal(claimed)
        # One read transaction for every row authentication looks at, read as plain rows: this
        # runs on every call, so it does not pay for ORM objects it would throw away.
        with self._db.read() as session:
            rows = session.connection()
            public_key = self._identity_key(rows, principal.id, key_id, method)
            try:
                claims = tokens.verify(token, public_key, method, key_id, request_digest, now=clock.now_s())
            except tokens.TokenError as exc:
                raise Unauthenticated(str(exc), reason=exc.reason) from exc
            kind = self._staff_member(rows, principal, claims) if principal.kind == "org" else ""
        spend.of(claims)
        self._bound_to_connection(principal, public_key, certificate)
        caller = Principal(principal.id, role=claims.role, practitioner=claims.practitioner, institution_kind=kind,
                           key_id=key_id)
        return Authenticated(caller, token)

    def _staff_member(self, rows: Connection, principal: Principal, claims: tokens.Claims) -> str:
        """The institution's kind, once the token's practitioner and role are its own.

        The token is verified, so the institution is proven and may be named; the practitioner
        id is its text and is never put in a message (messages are ledgered), and a role only
        once it is known to be one of the policy's."""
        if not (_staff_id(claims.role) and _staff_id(claims.practitioner)):
            raise Unauthenticated("an institution's token must name the acting staff role and practitioner id",
                                  reason="bad_staff_claims", proven=principal.id)
        if claims.role not in staff.STAFF_ROLES:
            raise Unauthenticated("the token's role is not a staff role", reason="unknown_role", proven=principal.id)
        institution_kind = rows.execute(_INSTITUTION_KIND, {"institution": principal.name}).scalar()
        member = rows.execute(_PRACTITIONER, {"institution": principal.name,
                                              "practitioner": claims.practitioner}).first()
        kind = staff.kind_name(institution_kind) if institution_kind is not None else ""
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
        """After the token is known to be spent by this call: the refusal's ledger entry spends
        it, so a stolen token refused here cannot be tried again and ledgers at most one refusal
        naming its principal."""
        check_bound(principal, identity_key, certificate, mutual_tls=self._mutual_tls)

    def _identity_key(self, rows: Connection, principal: str, key_id: str, method: str) -> bytes:
        """The public key that must verify the token: the principal's current identity key, or
        the one it replaced while in its grace (never for key management)."""
        key = rows.execute(_KEY, {"key_id": key_id}).first()
        if key is None or key.principal != principal or key.key_type != "identity":
            raise Unauthenticated("the token's key is not registered for its principal", reason="unknown_key")
        if key.status == "revoked":
            raise Unauthenticated("the token's key has been revoked", reason="revoked_key")
        if key.status != "current":
            if method in KEY_MANAGEMENT:
                raise Unauthenticated("the token's key has been replaced; managing keys and staff needs the "
                                      "current key", reason="retired_key")
            # A key retired before its time was recorded has no grace.
            if key.retired_ns is None or clock.now_ns() - key.retired_ns > self._grace_ns:
                raise Unauthenticated("the token's key has been replaced; sign with the current key",
                                      reason="retired_key")
        return bytes(key.public_key)


_KEY = select(PrincipalKey.principal, PrincipalKey.key_type, PrincipalKey.status, PrincipalKey.retired_ns,
              PrincipalKey.public_key).where(PrincipalKey.key_id == bindparam("key_id"))
_INSTITUTION_KIND = select(Institution.kind).where(Institution.institution_id == bindparam("institution"))
_PRACTITIONER = select(Practitioner.roles, Practitioner.removed_ns).where(
    Practitioner.institution_id == bindparam("institution"),
    Practitioner.practitioner_id == bindparam("practitioner"))


def require_current_key(session: Session, principal: Principal) -> None:
    """Refuses a call that outlives its token (a live stream) once the key that signed the token
    is no longer the principal's current one: a lost device's watch stops when the patient
    re-enrols, a revoked key's at once, a rotated key's without the grace single calls have."""
    if principal.kind == "operator" or not principal.key_id:
        return  # the operator's key is the data directory's, not a registered one
    key = session.get(PrincipalKey, principal.key_id)
    if key is None or key.principal != principal.id or key.status != "current":
        raise Unauthenticated("the key this stream was opened with is no longer current; open it again with the "
                              "current key", reason="retired_key")


def _bearer(metadata: Metadata) -> str:
    for key, value in metadata or ():
        if key == tokens.METADATA_KEY and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer "):]
    raise Unauthenticated("the call carries no 'authorization: Bearer <token>' metadata", reason="no_token")


def _staff_id(value: str) -> bool:
    return _STAFF_ID.fullmatch(value) is not None
