"""Records as holders deposit them: sealed at rest, filed with their ledger entry, listed by page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.crypto import at_rest, derived, kek_fence
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain.labelling import LabelReason
from consentry.services.domain.readings import PATIENT_REPORTED
from consentry.services.domain.records import Deposit
from consentry.services.errors import NotFound, PermissionDenied
from consentry.services.identity.acting_for import READ_HISTORY, REPORT_READINGS, about_enrolled, acting_for
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Institution, Person, Record
from consentry.v1 import registry_pb2

# A new record's metadata version (crypto/at_rest.py); 0 marks a version-1 body.
FIRST_META_VERSION = 1
# The label a Part 2 program's deposits carry, and the source its reason names.
PART2_LABEL, PART2_PROGRAM = "SUD", "part2-program"
# Institutions that hold and deposit records. Payers and registries only receive.
HOLDER_KINDS = {
    registry_pb2.INSTITUTION_KIND_HOSPITAL, registry_pb2.INSTITUTION_KIND_CLINIC,
    registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, registry_pb2.INSTITUTION_KIND_LABORATORY,
}


@dataclass(frozen=True)
class SealedDeposit:
    """A validated deposit whose body is sealed at rest, ready to be filed."""

    record_id: str
    patient_id: str
    deposit: Deposit
    content_hash: str
    sealed: at_rest.SealedRecord


def seal_deposit(holder: str, patient_id: str, body: bytes, deposit: Deposit, kek: KeyEncryptionKeyProvider,
                 secret: bytes) -> SealedDeposit:
    """Seals the body under a fresh record id and hashes it under the holder's key (derived from
    the service `secret`); done before the write transaction, which it does not need, so the
    database's writer waits for no cryptography."""
    record_id = str(uuid.uuid4())
    return SealedDeposit(record_id, patient_id, deposit, derived.content_hash(secret, holder, body),
                         at_rest.seal_record(record_id, body, kek, deposit_meta(holder, patient_id, deposit)))


def deposit_meta(holder: str, patient_id: str, deposit: Deposit) -> at_rest.RecordMeta:
    """What a new record's body is bound to (crypto/at_rest.py, format version 2)."""
    return at_rest.RecordMeta(patient_id, holder, deposit.category, tuple(deposit.labels), FIRST_META_VERSION)


def file_deposit(s: Session, trail: AuditTrail, holder: Principal, new: SealedDeposit,
                 kek: KeyEncryptionKeyProvider) -> tuple[Record, int]:
    """Files the record for its holder and ledgers the deposit; returns the row and its entry's seq."""
    institution = s.get(Institution, holder.name)
    if institution is None or institution.kind not in HOLDER_KINDS:
        raise about_enrolled(s, PermissionDenied(
            "only hospitals, clinics, family doctors and laboratories deposit records"), new.patient_id)
    # A holder may learn that an id is not enrolled: it has the patient in its own records
    # already, and must know that its deposit was not filed (docs/disclosure.md).
    if s.get(Person, new.patient_id) is None:
        raise NotFound("no patient with this id is enrolled")
    deposit = part2_marked(new.deposit) if institution.part2_program else new.deposit
    if deposit != new.deposit:  # labelled here: the body is bound to the labels the row gets
        new = replace(new, deposit=deposit, sealed=at_rest.reseal_record(
            new.record_id, new.sealed, kek, deposit_meta(holder.name, new.patient_id, new.deposit),
            deposit_meta(holder.name, new.patient_id, deposit)))
    return _file(s, trail, holder, holder.name, new, deposit)


def file_reading(s: Session, trail: AuditTrail, new: SealedDeposit) -> tuple[Record, int]:
    """Files a patient-reported reading (docs/readings.md) for the caller, who must be the patient
    or a proxy with the report-readings scope; held by PATIENT_REPORTED, not by an institution."""
    reporter = acting_for(s, new.patient_id, REPORT_READINGS)
    return _file(s, trail, reporter, PATIENT_REPORTED, new, new.deposit)


def _file(s: Session, trail: AuditTrail, actor: Principal, holder: str, new: SealedDeposit,
          deposit: Deposit) -> tuple[Record, int]:
    kek_fence.require_current(s, new.sealed.kek_id)  # no data key stored under a KEK being retired
    row = Record(
        record_id=new.record_id, patient_id=new.patient_id, holder=holder,
        resource_type=deposit.resource_type, category=deposit.category, labels=deposit.labels,
        effective_ns=deposit.effective_ns, created_ns=clock.now_ns(), content_hash=new.content_hash,
        ciphertext=new.sealed.ciphertext, wrapped_key=new.sealed.wrapped_key, kek_id=new.sealed.kek_id,
        label_reasons=[reason.to_json() for reason in deposit.label_reasons], meta_version=FIRST_META_VERSION,
    )
    s.add(row)
    reported: dict = {"patient_reported": True} if holder == PATIENT_REPORTED else {}
    seq = trail.append(
        s, "record.deposited", actor.id, patient_id=new.patient_id, record=new.record_id,
        category=deposit.category, labels=deposit.labels, role=actor.role or None,
        practitioner=actor.practitioner or None, **reported,
    )
    return row, seq


def part2_marked(deposit: Deposit) -> Deposit:
    """A Part 2 program's deposit: labelled SUD whatever it holds, so it counts as substance-use
    (policy/data/labels.json) and needs a consent naming substance-use (42 CFR 2.31)."""
    if PART2_LABEL in deposit.labels:
        return deposit
    reason = LabelReason(label=PART2_LABEL, source=PART2_PROGRAM, element="holder")
    return replace(deposit, labels=sorted({*deposit.labels, PART2_LABEL}),
                   label_reasons=(*deposit.label_reasons, reason))


def records_page(s: Session, principal: Principal, patient_id: str, size: int,
                 after: str) -> tuple[list[Record], str]:
    """One page of a patient's records and the next page's token ("" on the last page).

    An institution sees the records it holds (so nothing for an id it never deposited for, enrolled
    or not); the patient, or a proxy who may read the history, sees all of them."""
    query = select(Record).where(Record.patient_id == patient_id, Record.record_id > after)
    if principal.kind == "org":
        query = query.where(Record.holder == principal.name)
    else:
        acting_for(s, patient_id, READ_HISTORY)
    rows = s.scalars(query.order_by(Record.record_id).limit(size + 1)).all()
    token = rows[size - 1].record_id if len(rows) > size else ""
    return list(rows[:size]), token
