"""One-time enrolment codes (docs/identity.md, "Enrolment codes").

The operator (or an institution, for a new patient) creates a code; the patient's new device
redeems it with a fresh identity key and proof of possession, and no token: it has no key yet.
A code has 60 random bits, is typed as three groups of four Crockford base32 characters, is kept
only as a keyed hash, expires, and works once. Redeeming enrols a new patient with the key, or
replaces an enrolled patient's identity key and revokes the old ones at once (a lost device).
Every refusal of a code reads the same, whatever was wrong with it, and the code itself is never
ledgered or logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from consentry.services.crypto.derived import enrolment_code_hash
from consentry.services.domain import enrolment
from consentry.services.domain.patient_identifiers import identifier_hash, require_unclaimed
from consentry.services.errors import InvalidArgument, PermissionDenied
from consentry.services.identity.principals import Principal, parse_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import EnrolmentCode, Person

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
LENGTH, GROUP = 12, 4  # 60 bits
_READ_AS = str.maketrans("ILO", "110")
PROOF_LABEL = b"consentry/enrolment-code/v1"
# The one answer to a code that is wrong, expired or used: no oracle tells them apart.
REFUSED = "this enrolment code is not valid: it may be mistyped, expired or already used; ask for a new one"


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, LENGTH, GROUP))


def normalised(code: str) -> str | None:
    """The code as it is hashed and signed: upper case, without '-' or spaces, I and L as 1, O as
    0; None unless that is 12 Crockford characters."""
    text = code.upper().replace("-", "").replace(" ", "").translate(_READ_AS)
    return text if len(text) == LENGTH and all(c in ALPHABET for c in text) else None


def proof_message(code: str, public_key: bytes) -> bytes:
    """What the new key signs: label, NUL, the normalised code, NUL, the public key."""
    return b"\x00".join([PROOF_LABEL, code.encode("ascii"), public_key])


def create(s: Session, trail: AuditTrail, caller: Principal, patient_id: str,
           identifiers: Sequence[tuple[str, str]], now_ns: int, ttl_ns: int) -> tuple[str, int]:
    """A new code for the patient, voiding their earlier unused ones; (code, expiry)."""
    lost_device = s.get(Person, patient_id) is not None
    hashes = [identifier_hash(trail.pseudonym_key, system, value) for system, value in identifiers]
    if lost_device:
        if caller.kind != "operator":
            raise PermissionDenied("only the operator issues a code for an enrolled patient (a lost device)")
        if hashes:
            raise InvalidArgument([("identifiers", "must be empty for an enrolled patient")])
    require_unclaimed(s, hashes)
    s.execute(delete(EnrolmentCode).where(EnrolmentCode.patient_id == patient_id, EnrolmentCode.used_ns.is_(None)))
    code = new_code()
    s.add(EnrolmentCode(code_hash=enrolment_code_hash(trail.pseudonym_key, normalised(code) or ""),
                        patient_id=patient_id, identifier_hashes=hashes, created_by=caller.id, created_ns=now_ns,
                        expire_ns=now_ns + ttl_ns))
    # A patient not yet enrolled is not named: the ledger learns of them when they enrol.
    trail.append(s, "enrolment.code_created", caller.id, patient_id=patient_id if lost_device else None,
                 lost_device=lost_device)
    return code, now_ns + ttl_ns


def check_proof(code: str, public_key: bytes, proof: bytes) -> None:
    try:
        VerifyKey(public_key).verify(proof_message(code, public_key), proof)
    except (BadSignatureError, ValueError):
        raise InvalidArgument([("proof", "must be the new key's Ed25519 signature over the enrolment message "
                                         "(docs/identity.md, \"Enrolment codes\")")]) from None


def redeem(s: Session, trail: AuditTrail, code: str, public_key: bytes, now_ns: int) -> tuple[str, str]:
    """Uses the (normalised) code once: enrols the patient with the key, or makes it their only
    identity key; (patient id, key id)."""
    code_hash = enrolment_code_hash(trail.pseudonym_key, code)
    row = s.get(EnrolmentCode, code_hash)
    if row is None or row.used_ns is not None or row.expire_ns <= now_ns:
        raise PermissionDenied(REFUSED)
    # Claimed by a conditional update, so two redeems racing for it cannot both succeed.
    claimed = s.execute(update(EnrolmentCode).where(EnrolmentCode.code_hash == code_hash,
                                                    EnrolmentCode.used_ns.is_(None)).values(used_ns=now_ns))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PermissionDenied(REFUSED)
    patient = "patient:" + row.patient_id
    if s.get(Person, row.patient_id) is None:
        key_id = enrolment.enroll_patient_hashed(s, trail, parse_principal(patient), row.patient_id, public_key,
                                                 row.identifier_hashes, via="enrolment-code")
        return row.patient_id, key_id
    key, revoked = enrolment.replace_identity_key(s, patient, public_key)
    trail.append(s, "patient.key_replaced", patient, patient_id=row.patient_id, key_id=key.key_id,
                 revoked_key_ids=revoked, via="enrolment-code")
    return row.patient_id, key.key_id
