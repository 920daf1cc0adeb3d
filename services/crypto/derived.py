"""Values the service derives from its one MAC secret, the ledger's pseudonym key
(`ledger-pseudonym.key`), each under its own label so that no two uses can be confused:

    HMAC-SHA256(secret, label || 0x00 || part1 || 0x00 || part2 ...)

The parts are validated ids (institution, patient, consent and subject ids), none of which can
hold a NUL byte, so the encoding is unambiguous. The ledger pseudonym itself is
`consentry.ledger.pseudonym.patient_pseudonym` (label `consentry/ledger/patient-pseudonym/v1`),
keyed by each patient's own key rather than this secret (store/pseudonym_keys.py), so that it can
be erased patient by patient.

Labels (each followed by 0x00), what they are computed over, and who sees the value:

    consentry/ledger/institution-pseudonym/v1   institution id, patient id   that institution, in its access entries
    consentry/research/subject-id/v1            consent id                   the consent's grantee and patient
    consentry/ledger/research-pseudonym/v1      subject id                   the grantee, in its research access entries
    consentry/research/body-pseudonym-key/v1    subject id                   (a key) pseudonyms in research bodies
    consentry/records/content-hash-key/v1       holder id                    (a key) the holder's content hashes
    consentry/consents/row-mac-key/v1           (nothing)                    (a key) consent rows' MACs

Why no key file of its own for each: every value here must stay stable for as long as the data
it names (a pseudonym that changed would split a patient's history; a subject id that changed
would orphan a research consent), so they share the secret's lifetime,
its backup and its protection. A separate file would add a secret to generate, back up and restore
(an existing data directory would not start without it) while adding no separation that the
labels do not already give: HMAC-SHA256 is a PRF, so values under different labels are
independent. The KEK is no candidate: it is rotated (the values would change with it) and may live
in an HSM that wraps keys but computes no HMAC.
"""

from __future__ import annotations

import hashlib
import hmac

INSTITUTION_PSEUDONYM = b"consentry/ledger/institution-pseudonym/v1"
SUBJECT_ID = b"consentry/research/subject-id/v1"
RESEARCH_PSEUDONYM = b"consentry/ledger/research-pseudonym/v1"
BODY_PSEUDONYM_KEY = b"consentry/research/body-pseudonym-key/v1"
CONTENT_HASH_KEY = b"consentry/records/content-hash-key/v1"
CONSENT_MAC_KEY = b"consentry/consents/row-mac-key/v1"

MIN_SECRET_BYTES = 32  # as the ledger requires of the pseudonym key
SUBJECT_ID_HEX = 32  # 128 bits, and a valid FHIR id, so a pseudonymised body can name it


def _mac(secret: bytes, label: bytes, *parts: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the service secret must be at least {MIN_SECRET_BYTES} bytes")
    if any(not part or "\x00" in part for part in parts):
        raise ValueError("a derivation part is empty or holds a NUL byte")
    message = b"\x00".join([label, *(part.encode("utf-8") for part in parts)])
    return hmac.new(secret, message, hashlib.sha256).digest()


def institution_pseudonym(secret: bytes, institution_id: str, patient_id: str) -> str:
    """How the access entries returned to `institution_id` name the patient: stable for that
    institution, unlinkable to the ledger pseudonym and to any other institution's."""
    return _mac(secret, INSTITUTION_PSEUDONYM, institution_id, patient_id).hex()


def subject_id(secret: bytes, consent_id: str) -> str:
    """A research consent's subject id: stable for the consent, unlinkable across consents."""
    return _mac(secret, SUBJECT_ID, consent_id).hex()[:SUBJECT_ID_HEX]


def research_pseudonym(secret: bytes, subject: str) -> str:
    """How a research fetch's access entries name the patient: one value per research subject,
    which tells the grantee nothing beyond the subject id it asked with."""
    return _mac(secret, RESEARCH_PSEUDONYM, subject).hex()


def body_pseudonym_key(secret: bytes, subject: str) -> bytes:
    """The key for pseudonyms of other people a research subject's bodies name."""
    return _mac(secret, BODY_PSEUDONYM_KEY, subject)


def content_hash(secret: bytes, holder: str, body: bytes) -> str:
    """HMAC-SHA256 of a deposited body under a key derived for its holder alone: without the
    service secret no one can confirm a guessed body, and two holders' hashes of one body differ."""
    return hmac.new(_mac(secret, CONTENT_HASH_KEY, holder), body, hashlib.sha256).hexdigest()


def enrolment_code_hash(secret: bytes, code: str) -> str:
    """How an enrolment code is kept (docs/identity.md, "Enrolment codes"): keyed, so a copy of the
    database alone cannot try the 2^60 codes offline. `code` is normalised (12 Crockford chars)."""
    return _mac(secret, b"consentry/enrolment-code/v1", code).hex()


def consent_mac(secret: bytes, message: bytes) -> str:
    """HMAC-SHA256 (hex) of a consent row's canonical form (domain/consents.py, `consent_mac`)
    under a key derived for that alone: a database writer cannot make a row the service accepts."""
    return hmac.new(_mac(secret, CONSENT_MAC_KEY), message, hashlib.sha256).hexdigest()
