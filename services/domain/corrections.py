"""Corrections (PIPL 46, HIPAA 164.526, GDPR 16): the patient asks the holder of a record to
correct it; the holder accepts, depositing the amended record as a new record that names the one
it amends (the old one stays, as HIPAA 164.526(c)(1) wants the amendment linked, not a rewrite),
or denies with a reason. Every institution the old record was shared with is told (a recipient
notice), as 164.526(c)(3) asks.

The patient's text and the holder's explanation are sealed at rest and never ledgered.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import LedgerReader
from consentry.services import clock
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain import deposits, rights_tracker
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.acting_for import EXERCISE_RIGHTS, acting_for
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import LedgerSubject, RecipientNotice, Record, RightsRequest

NO_RECORD = "no record with this id"
AMENDED = "record.amended"


def file_correction(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, patient_id: str, record_id: str,
                    reason: str, text: str) -> RightsRequest:
    """A correction of one of the patient's records, routed to its holder."""
    acting_for(s, patient_id, EXERCISE_RIGHTS)
    record = s.get(Record, record_id)
    if record is None or record.patient_id != patient_id:
        raise NotFound(NO_RECORD)
    if record.erased_ns is not None:
        raise FailedPrecondition("this record was erased; there is nothing left to correct")
    row = rights_tracker.file_request(s, trail, patient_id, "correction", record.holder, record_id=record_id)
    row.correction_reason = reason
    rights_tracker.seal_correction_text(s, row, text, kek)
    return row


def pending_correction(s: Session, request_id: str, holder: Principal) -> RightsRequest:
    """The correction routed to `holder`, still open."""
    holder.require("org")
    row = rights_tracker.answerable(s, request_id, holder)
    if row.type != "correction":
        raise NotFound(rights_tracker.NO_REQUEST)
    if row.status in rights_tracker.FINAL:
        raise FailedPrecondition(f"this correction is already {row.status}")
    return row


def accept(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, row: RightsRequest, holder: Principal,
           amended: deposits.SealedDeposit) -> int:
    """Files the amendment, links it to the old record, completes the request; returns how many
    past recipients were notified."""
    assert row.record_id is not None
    new, _seq = deposits.file_deposit(s, trail, holder, amended, kek)
    new.amends_record_id = row.record_id
    row.amendment_record_id = new.record_id
    rights_tracker.update(s, trail, kek, row, holder, "completed")
    return _notify_recipients(s, trail, row, new.record_id, holder)


def deny(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, row: RightsRequest, holder: Principal,
         reason: str, explanation: str) -> None:
    rights_tracker.update(s, trail, kek, row, holder, "refused", reason, explanation)


def notices_page(s: Session, institution: Principal, size: int, after: str) -> tuple[list[RecipientNotice], str]:
    institution.require("org")
    rows = list(s.scalars(select(RecipientNotice).where(
        RecipientNotice.institution_id == institution.name, RecipientNotice.notice_id > after,
    ).order_by(RecipientNotice.notice_id).limit(size + 1)))
    return rows[:size], rows[size - 1].notice_id if len(rows) > size else ""


def _notify_recipients(s: Session, trail: AuditTrail, row: RightsRequest, amendment_id: str, holder: Principal) -> int:
    """One notice per institution the ledger shows received the old record (the patient's
    access entries, through the service's index), the holder aside."""
    seqs = s.scalars(select(LedgerSubject.seq).where(LedgerSubject.pseudonym == trail.pseudonym(s, row.patient_id),
                                                     LedgerSubject.kind == "access.decision"))
    recipients = set()
    for stored in LedgerReader(s.connection()).entries_at(list(seqs)):
        entry = json.loads(stored.entry)
        if entry.get("record") == row.record_id and entry.get("allowed") is True:
            recipients.add(entry["actor"].removeprefix("org:"))
    recipients.discard(row.holder)
    now = clock.now_ns()
    for institution in sorted(recipients):
        assert row.record_id is not None
        s.add(RecipientNotice(notice_id=str(uuid.uuid4()), institution_id=institution, kind=AMENDED,
                              record_id=row.record_id, amendment_record_id=amendment_id, created_ns=now))
    trail.append(s, "record.amended", holder.id, patient_id=row.patient_id, record=row.record_id,
                 amendment=amendment_id, request=row.request_id, notified=len(recipients),
                 role=holder.role or None, practitioner=holder.practitioner or None)
    return len(recipients)
