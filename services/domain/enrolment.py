"""Who the service knows: institutions with their identity and encryption keys, patients and
auditors with their identity keys. Every change is ledgered in the caller's write transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.crypto.share import recipient_key_id
from consentry.services.domain.patient_identifiers import enroll_hashes, enroll_identifiers
from consentry.services.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from consentry.services.identity.principals import Principal
from consentry.services.identity.tokens import identity_key_id
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Auditor, Institution, Person, PrincipalKey


def key_id_for(key_type: str, public_key: bytes) -> str:
    return identity_key_id(public_key) if key_type == "identity" else recipient_key_id(public_key)


def add_key(session: Session, principal: str, key_type: str, public_key: bytes) -> PrincipalKey:
    """Registers a key as the principal's current one of its type; the previous one retires now
    (an identity key then authenticates only within the grace, docs/identity.md)."""
    key_id = key_id_for(key_type, public_key)
    if session.get(PrincipalKey, key_id) is not None:
        raise AlreadyExists("this public key is already registered")
    now = clock.now_ns()
    for old in session.scalars(
        select(PrincipalKey).where(
            PrincipalKey.principal == principal,
            PrincipalKey.key_type == key_type,
            PrincipalKey.status == "current",
        )
    ):
        old.status, old.retired_ns = "retired", now
    key = PrincipalKey(
        key_id=key_id, principal=principal, key_type=key_type, public_key=public_key,
        status="current", created_ns=now,
    )
    session.add(key)
    return key


def register_institution(s: Session, trail: AuditTrail, operator: Principal, institution_id: str,
                         display_name: str, kind: int, identity_key: bytes, encryption_key: bytes,
                         part2_program: bool = False) -> None:
    if s.get(Institution, institution_id) is not None:
        raise AlreadyExists("an institution with this id is already registered")
    s.add(Institution(institution_id=institution_id, display_name=display_name, kind=kind, created_ns=clock.now_ns(),
                      part2_program=part2_program))
    principal = "org:" + institution_id
    ident = add_key(s, principal, "identity", identity_key)
    enc = add_key(s, principal, "encryption", encryption_key)
    part2: dict[str, Any] = {"part2_program": True} if part2_program else {}
    trail.append(s, "institution.registered", operator.id, institution=principal, key_ids=[ident.key_id, enc.key_id],
                 **part2)
    s.flush()


def require_key_manager(principal: Principal, institution_id: str) -> None:
    """The operator, or the institution itself, may manage an institution's keys."""
    if principal.kind == "org" and principal.name != institution_id:
        raise PermissionDenied("an institution may manage only its own keys")


def rotate_key(s: Session, trail: AuditTrail, manager: Principal, institution_id: str, key_type: str,
               public_key: bytes) -> PrincipalKey:
    require_institution(s, institution_id)
    key = add_key(s, "org:" + institution_id, key_type, public_key)
    trail.append(s, "key.rotated", manager.id, institution="org:" + institution_id,
                 key_type=key.key_type, key_id=key.key_id)
    s.flush()
    return key


def revoke_key(s: Session, trail: AuditTrail, manager: Principal, institution_id: str, key_id: str) -> PrincipalKey:
    """Revokes the key; an institution never revokes its current identity key (no other key of
    its would manage its keys again: a retired one authenticates only briefly and never for key
    management), only the operator may. The request's reason is the caller's free text: the
    ledger, which can never forget it, does not keep it."""
    require_institution(s, institution_id)
    key = s.get(PrincipalKey, key_id)
    if key is None or key.principal != "org:" + institution_id:
        raise NotFound("the institution has no key with this id")
    if key.status == "revoked":
        raise FailedPrecondition("the key is already revoked")
    if key.key_type == "identity" and manager.kind == "org" and key.status == "current":
        raise FailedPrecondition("an institution cannot revoke its current identity key; rotate it first, "
                                 "or ask the operator")
    key.status, key.revoked_ns = "revoked", clock.now_ns()
    trail.append(s, "key.revoked", manager.id, institution=key.principal,
                 key_type=key.key_type, key_id=key.key_id)
    s.flush()
    return key


def enroll_patient(s: Session, trail: AuditTrail, operator: Principal, patient_id: str, public_key: bytes,
                   identifiers: Sequence[tuple[str, str]] = ()) -> str:
    """Enrols the patient with their identity key and other identifiers (kept as keyed hashes,
    never ledgered); returns the key id."""
    key_id = _enroll(s, trail, operator, Person(patient_id=patient_id, created_ns=clock.now_ns()), patient_id,
                     "patient:" + patient_id, public_key, "this patient is already enrolled", "patient.enrolled",
                     patient_id=patient_id)
    enroll_identifiers(s, trail.pseudonym_key, patient_id, identifiers)
    return key_id


def enroll_patient_hashed(s: Session, trail: AuditTrail, actor: Principal, patient_id: str, public_key: bytes,
                          identifier_hashes: Sequence[str], **ledgered: Any) -> str:
    """As enroll_patient, with the identifiers already kept as keyed hashes (an enrolment code's)."""
    key_id = _enroll(s, trail, actor, Person(patient_id=patient_id, created_ns=clock.now_ns()), patient_id,
                     "patient:" + patient_id, public_key, "this patient is already enrolled", "patient.enrolled",
                     patient_id=patient_id, **ledgered)
    enroll_hashes(s, patient_id, identifier_hashes)
    return key_id


def replace_identity_key(s: Session, principal: str, public_key: bytes) -> tuple[PrincipalKey, list[str]]:
    """Makes `public_key` the principal's identity key and revokes every earlier one at once: no
    grace, for a key on a lost device must not authenticate another call. Returns the new key
    and the ids of those revoked."""
    key = add_key(s, principal, "identity", public_key)
    now, revoked = clock.now_ns(), []
    for old in s.scalars(select(PrincipalKey).where(
            PrincipalKey.principal == principal, PrincipalKey.key_type == "identity",
            PrincipalKey.status != "revoked", PrincipalKey.key_id != key.key_id)):
        old.status, old.revoked_ns = "revoked", now
        revoked.append(old.key_id)
    return key, sorted(revoked)


def enroll_auditor(s: Session, trail: AuditTrail, operator: Principal, auditor_id: str, public_key: bytes) -> str:
    """Enrols the auditor with their identity key; returns the key id."""
    principal = "auditor:" + auditor_id
    return _enroll(s, trail, operator, Auditor(auditor_id=auditor_id, created_ns=clock.now_ns()), auditor_id,
                   principal, public_key, "an auditor with this id is already enrolled", "auditor.enrolled",
                   auditor=principal)


def _enroll(s: Session, trail: AuditTrail, operator: Principal, row: Person | Auditor, row_id: str, principal: str,
            public_key: bytes, exists: str, event: str, **ledgered: Any) -> str:
    if s.get(type(row), row_id) is not None:
        raise AlreadyExists(exists)
    s.add(row)
    key = add_key(s, principal, "identity", public_key)
    trail.append(s, event, operator.id, key_id=key.key_id, **ledgered)
    return key.key_id


def require_institution(s: Session, institution_id: str) -> Institution:
    inst = s.get(Institution, institution_id)
    if inst is None:
        raise NotFound("no institution with this id is registered")
    return inst


def institution_keys(s: Session, institution_id: str) -> tuple[Institution, list[PrincipalKey]]:
    """The institution and every key it ever registered, oldest first."""
    inst = require_institution(s, institution_id)
    keys = s.scalars(select(PrincipalKey).where(PrincipalKey.principal == "org:" + institution_id)
                     .order_by(PrincipalKey.created_ns)).all()
    return inst, list(keys)


def institution_ids_page(s: Session, size: int, after: str) -> tuple[list[str], str]:
    """One page of institution ids, and the next page's token ("" on the last page)."""
    ids = s.scalars(
        select(Institution.institution_id)
        .where(Institution.institution_id > after)
        .order_by(Institution.institution_id).limit(size + 1)
    ).all()
    return list(ids[:size]), ids[size - 1] if len(ids) > size else ""

