"""The service's tables (SQLAlchemy 2). The ledger's own tables live in consentry.ledger.db.

Times are integers: nanoseconds since the Unix epoch, UTC. They compare exactly on every
backend and are what the policy input uses.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from consentry.ledger.db import metadata as ledger_metadata


class Base(DeclarativeBase):
    metadata = ledger_metadata  # one MetaData, so one migration history covers every table


class Institution(Base):
    __tablename__ = "institutions"
    institution_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[int] = mapped_column(Integer)
    created_ns: Mapped[int] = mapped_column(BigInteger)
    # A 42 CFR Part 2 program: its every deposit is substance-use (domain/deposits.py).
    part2_program: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Practitioner(Base):
    """A member of an institution's staff with the roles the institution registered for them.

    An institution's call token names one practitioner and one role; authentication accepts it
    only while the practitioner is registered here, not removed, and holds that role. A removed
    practitioner keeps the row (removed_ns set) until registered again."""

    __tablename__ = "practitioners"
    institution_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    roles: Mapped[list] = mapped_column(JSON)
    registered_ns: Mapped[int] = mapped_column(BigInteger)
    removed_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Person(Base):
    """An enrolled patient (who may also be named as another patient's proxy)."""

    __tablename__ = "persons"
    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_ns: Mapped[int] = mapped_column(BigInteger)


class PatientIdentifier(Base):
    """An identifier a patient was enrolled with (a national health id, a record number), as a
    keyed hash only (domain/patient_identifiers.py): a deposit naming the patient by it can be
    matched, while the table alone says nothing about whose identifier it is."""

    __tablename__ = "patient_identifiers"
    identifier_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    created_ns: Mapped[int] = mapped_column(BigInteger)


class Auditor(Base):
    __tablename__ = "auditors"
    auditor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_ns: Mapped[int] = mapped_column(BigInteger)


class PrincipalKey(Base):
    """A public key registered for a principal ("org:<id>", "patient:<id>", "auditor:<id>",
    "operator"). Identity keys sign call tokens; encryption keys receive shares.

    A principal has one current key of each type. Registering another retires it (`retired_ns`:
    when); a retired identity key authenticates only within the short grace after that
    (docs/identity.md), a revoked one never."""

    __tablename__ = "principal_keys"
    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    principal: Mapped[str] = mapped_column(String(140), index=True)
    key_type: Mapped[str] = mapped_column(String(16))  # identity | encryption
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # current | retired | revoked
    created_ns: Mapped[int] = mapped_column(BigInteger)
    revoked_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    retired_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ServiceSigningKey(Base):
    """A signing key of the service itself (its public half only) and its validity, for recipients
    to follow a rotation (docs/keys.md, "Rotation"). One row per purpose is `current`; a row after
    the first carries its endorsement: the rotation statement signed by the key before it and by
    itself. A retired key stays valid for what it signed; a revoked one only before `revoked_from_ns`."""

    __tablename__ = "service_signing_keys"
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)  # share-signing
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # key_provider.signer_key_id
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # current | retired | revoked
    valid_from_ns: Mapped[int] = mapped_column(BigInteger)
    retired_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_from_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    statement: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # the rotation statement
    old_signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    new_signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class TokenUse(Base):
    """Every accepted token id, kept until the token expires, so a replay is refused."""

    __tablename__ = "token_uses"
    principal: Mapped[str] = mapped_column(String(140), primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_ns: Mapped[int] = mapped_column(BigInteger, index=True)


class IdempotentCall(Base):
    """The first response to a write carrying an idempotency key, replayed on retries."""

    __tablename__ = "idempotent_calls"
    principal: Mapped[str] = mapped_column(String(140), primary_key=True)
    method: Mapped[str] = mapped_column(String(120), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_ns: Mapped[int] = mapped_column(BigInteger)


class Record(Base):
    __tablename__ = "records"
    record_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    holder: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    labels: Mapped[list] = mapped_column(JSON)
    effective_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ns: Mapped[int] = mapped_column(BigInteger)
    # Keyed for the holder alone (crypto/derived.py); NULL once erased, and for records deposited
    # before it was keyed (the "pseudonyms" migration dropped their unsalted hashes).
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Body sealed under the record's data key; both are destroyed on erasure.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    erased_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Why each label is there (domain/labelling.py, LabelReason.to_json): value sets, elements and
    # code systems, never a code or other content, so it may outlive an erasure. Null: none given.
    label_reasons: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # An amendment (an accepted correction): the record it is a new version of.
    amends_record_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # Bound into the body's AAD with patient, holder, category and labels (crypto/at_rest.py,
    # format version 2); every legitimate change of those increments it. 0: a version-1 body.
    meta_version: Mapped[int] = mapped_column(Integer, default=1, server_default="0")


class Consent(Base):
    """One version of a consent; (consent_id, version) is unique and history is never lost."""

    __tablename__ = "consents"
    consent_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128))
    grantee: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # treatment | research
    categories: Mapped[list] = mapped_column(JSON)
    purposes: Mapped[list] = mapped_column(JSON)
    excepted: Mapped[list] = mapped_column(JSON)
    data_from_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data_until_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    valid_from_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    valid_until_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # active | revoked | expired | superseded
    created_by: Mapped[str] = mapped_column(String(140))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    revoked_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A research consent's subject id (crypto/derived.py), the same in every version; what its
    # grantee names in a research fetch. NULL for a treatment consent.
    subject_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The privacy notice version this consent version was given under (domain/privacy_notices.py)
    # and its content hash (hex); NULL only for versions made before notices existed.
    notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    notice_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notice_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # For a consent naming "*": the non-sensitive categories of the vocabulary when the patient
    # agreed, all "*" covers (policy/consent.rego); a category added later is not among them.
    broad_categories: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # HMAC-SHA256 (hex) over what the policy acts on, keyed from the service secret
    # (domain/consents.py, `consent_mac`); a row whose MAC fails is not used for a decision.
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_consents_patient_grantee_status", "patient_id", "grantee", "status"),)


class AccessRequest(Base):
    __tablename__ = "access_requests"
    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    requester: Mapped[str] = mapped_column(String(64), index=True)
    terms: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | declined | expired
    created_ns: Mapped[int] = mapped_column(BigInteger)
    expire_ns: Mapped[int] = mapped_column(BigInteger)
    decided_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The requester's privacy notice the patient is shown with the request; NULL only for
    # requests made before notices existed (their approval then needs none).
    notice_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    notice_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notice_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Proxy(Base):
    __tablename__ = "proxies"
    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    proxy_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    scopes: Mapped[list] = mapped_column(JSON)
    relationship: Mapped[str] = mapped_column(String(64))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    expire_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    removed_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ConsentEvidence(Base):
    """What a patient (or proxy) signed to make one consent change: the call's token exactly as
    sent, which binds the method and the SHA-256 of the request bytes, and those bytes. The
    change's ledger entry carries SHA-256(token) as `authorization`, the key of this row, so the
    patient's key proves the change offline (docs/identity.md, "Consent evidence").

    What the change was about: a consent version (grant, narrow, revoke, approve, import), an
    access request (approve, decline) or a proxy (named, removed)."""

    __tablename__ = "consent_evidence"
    authorization: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    consent_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    proxy_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    method: Mapped[str] = mapped_column(String(120))
    signer: Mapped[str] = mapped_column(String(140))
    key_id: Mapped[str] = mapped_column(String(80))
    token: Mapped[str] = mapped_column(Text)
    request: Mapped[bytes] = mapped_column(LargeBinary)
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    created_ns: Mapped[int] = mapped_column(BigInteger)


class LedgerSubject(Base):
    """Which ledger entries are about which patient (by pseudonym), for the patient's own
    access history and entry listing. Written in the same transaction as the entry."""

    __tablename__ = "ledger_subjects"
    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))


class PatientPseudonymKey(Base):
    """Each patient's own pseudonym key: their ledger pseudonym is an HMAC under it
    (`consentry.ledger.pseudonym.patient_pseudonym`), so deleting the row unlinks every entry
    that names them from their id, and no one else's. Created the first time an entry names
    the patient (store/pseudonym_keys.py).

    `key` is NULL for a patient enrolled before per-patient keys: their entries so far name them
    under the service-wide key, and the server gives them a key of their own when it starts
    (`adopt_service_wide`), moving their history index to the new pseudonym."""

    __tablename__ = "patient_pseudonym_keys"
    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_ns: Mapped[int] = mapped_column(BigInteger)
class RightsRequest(Base):
    """A patient's rights request followed to its answer (domain/rights_requests.py). Texts of
    the patient's or the answerer's choosing are kept sealed (domain/sealed_text.py), never in
    the clear and never in the ledger."""

    __tablename__ = "rights_requests"
    request_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(16))  # access | correction | erasure | restriction | objection
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    record_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    received_ns: Mapped[int] = mapped_column(BigInteger)
    deadline_ns: Mapped[int] = mapped_column(BigInteger)
    deadline_basis: Mapped[str] = mapped_column(String(200))
    # The law whose deadline applies, for its extension.
    law: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # received | in-progress | extended | completed | refused
    updated_ns: Mapped[int] = mapped_column(BigInteger)
    refusal_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    explanation: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    correction_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    correction_text: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    amendment_record_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    filed_by: Mapped[str] = mapped_column(String(140))


class RecipientNotice(Base):
    """An institution that received a record now amended is told so (domain/corrections.py)."""

    __tablename__ = "recipient_notices"
    notice_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(40))
    amendment_record_id: Mapped[str] = mapped_column(String(40))
    created_ns: Mapped[int] = mapped_column(BigInteger)


class Representative(Base):
    """A legal guardian of a minor (PIPL 31) or a deceased patient's next of kin (PIPL 49),
    established by the operator on evidence kept by the operator (its type and SHA-256 here)."""

    __tablename__ = "representatives"
    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    representative_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    basis: Mapped[str] = mapped_column(String(16))  # guardian | next-of-kin
    evidence_type: Mapped[str] = mapped_column(String(32))
    evidence_hash: Mapped[str] = mapped_column(String(64))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
class PatientNotice(Base):
    """A notice queued for a patient (domain/notices.py): a kind from a closed set and the id of
    what it is about, never text of anyone's choosing nor clinical content, so it may be shown
    and streamed to the patient without review."""

    __tablename__ = "patient_notices"
    notice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_ref: Mapped[str] = mapped_column(String(64))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    read_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PrivacyNotice(Base):
    """One version of an institution's privacy notice (domain/privacy_notices.py), never changed
    once published: `document` is its canonical content and `content_hash` the hash of it that
    consents name."""

    __tablename__ = "privacy_notices"
    notice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(64), index=True)
    document: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_ns: Mapped[int] = mapped_column(BigInteger)


class EmergencyAccess(Base):
    """One break-the-glass fetch (domain/emergencies.py): who, for which patient, whose records,
    the justification sealed at rest (crypto/at_rest.py, a note bound to the emergency id), and
    its review: due by `review_due_ns`, then the auditor's outcome."""

    __tablename__ = "emergency_accesses"
    emergency_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    practitioner: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    holders: Mapped[list] = mapped_column(JSON)
    record_ids: Mapped[list] = mapped_column(JSON)
    justification_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    justification_wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    justification_kek_id: Mapped[str] = mapped_column(String(64))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    review_due_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    reviewed_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(140), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # justified | not-justified | referred
    review_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class EnrolmentCode(Base):
    """A one-time enrolment code (docs/identity.md, "Enrolment codes"): only its keyed hash is
    kept, never the code. For a new patient it carries the keyed hashes of the identifiers to
    enrol them with; for an enrolled one (a lost device) none. Redeeming sets `used_ns`."""

    __tablename__ = "enrolment_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    identifier_hashes: Mapped[list] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(140))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    expire_ns: Mapped[int] = mapped_column(BigInteger)
    used_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ServiceState(Base):
    """Small named values the service keeps about itself: "kek.fence", the id of the one KEK that
    may wrap a new data key (crypto/kek_rotation.py), and "kek.rotated_ns", when it last moved;
    "consent.macs", "pending" until the consents from before MACs have theirs (domain/consents.py)."""

    __tablename__ = "service_state"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_ns: Mapped[int] = mapped_column(BigInteger)


class AccessDelivery(Base):
    """Which allowed decisions reached their recipient: the seq of each `access.decision` a fetch
    carried, and of the `access.delivered` entry the fetch ledgered once it had handed every
    message to gRPC (domain/delivery.py). Derived from the ledger, written with that entry; a
    decision without a row was made available, its receipt not confirmed."""

    __tablename__ = "access_deliveries"
    decision_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivered_seq: Mapped[int] = mapped_column(BigInteger)
