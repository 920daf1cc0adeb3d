"""Identifiers a patient is enrolled with (a national health id, a hospital's record number), so
that a deposit may name the patient by one (docs/labelling.md, "References").

They are kept only as keyed hashes, never in clear:

    identifier_hash = hex HMAC-SHA256(secret, label || 0x00 || UTF-8(system) || 0x00 || UTF-8(value))

with label `consentry/enrolment/identifier/v1` and the service's MAC secret, the ledger's pseudonym
key, under a label of its own (so no hash equals any pseudonym or other value derived from it).
A hash must stay stable as long as the enrolment, exactly like the pseudonyms, so it shares their
secret, backup and lifetime. Identifiers are compared exactly: FHIR gives system and value no
normal form.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.domain.validation import Violations
from consentry.services.errors import AlreadyExists
from consentry.services.store.models import PatientIdentifier

LABEL = b"consentry/enrolment/identifier/v1"
MAX_IDENTIFIERS = 8
# An absolute URI (RFC 3986 scheme, then no whitespace): FHIR Identifier.system.
SYSTEM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]{1,250}")


def identifier_hash(secret: bytes, system: str, value: str) -> str:
    # surrogatepass: a deposited body's JSON may hold lone surrogates; they hash, never raise.
    message = b"\x00".join([LABEL, system.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass")])
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def validate_identifiers(v: Violations, field: str, identifiers: Sequence[tuple[str, str]]) -> None:
    """Adds a violation per identifier that is not an absolute-URI system with a 1-128 character
    value, and one if any repeats."""
    if len(identifiers) > MAX_IDENTIFIERS:
        v.add(field, f"must hold at most {MAX_IDENTIFIERS} identifiers")
        return
    for i, (system, value) in enumerate(identifiers):
        v.check(bool(SYSTEM.fullmatch(system)), f"{field}[{i}].system", "must be an absolute URI")
        v.check(bool(value.strip()) and len(value) <= 128, f"{field}[{i}].value", "must be 1-128 characters")
    v.check(len(set(identifiers)) == len(identifiers), field, "must not repeat an identifier")


def enroll_identifiers(s: Session, secret: bytes, patient_id: str, identifiers: Iterable[tuple[str, str]]) -> None:
    """Stores the identifiers' hashes for the patient, in the enrolment's transaction."""
    enroll_hashes(s, patient_id, [identifier_hash(secret, system, value) for system, value in identifiers])


def enroll_hashes(s: Session, patient_id: str, hashes: Sequence[str]) -> None:
    """Stores identifier hashes (identifier_hash) for the patient; ALREADY_EXISTS if one is
    another patient's."""
    require_unclaimed(s, hashes)
    now = clock.now_ns()
    s.add_all(PatientIdentifier(identifier_hash=h, patient_id=patient_id, created_ns=now) for h in hashes)


def require_unclaimed(s: Session, hashes: Sequence[str]) -> None:
    if hashes and s.scalars(select(PatientIdentifier.identifier_hash)
                            .where(PatientIdentifier.identifier_hash.in_(list(hashes)))).first() is not None:
        raise AlreadyExists("an identifier in identifiers is already enrolled for another patient")


def enrolled_hashes(s: Session, patient_id: str) -> frozenset[str]:
    return frozenset(s.scalars(select(PatientIdentifier.identifier_hash)
                               .where(PatientIdentifier.patient_id == patient_id)))
