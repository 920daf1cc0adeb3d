"""Break-the-glass, completed: every emergency access is kept, told to the patient at once, and
reviewed by an auditor before its deadline (docs/emergency.md).

A fetch that declares an emergency (ETREAT, a clinician of a care-delivering institution, a
justification) and passes the relationship check becomes one emergency access, in the fetch's
own transaction: its justification sealed at rest, a notice queued for the patient, and a ledger
entry naming the recipient, practitioner, role, the holders whose records were shared, the time
and the review deadline — and only that a justification exists, never its text, which is the
practitioner's own words and may describe the patient's condition. The patient (and proxies with
the read-history scope) and auditors read the justification; an auditor records the outcome.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.policy.bundle import POLICY_DIR
from consentry.services import clock
from consentry.services.crypto import at_rest, kek_fence
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain import notices
from consentry.services.domain.validation import to_timestamp
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.acting_for import READ_HISTORY, acting_for_owner
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import EmergencyAccess, Record
from consentry.v1 import common_pb2

# How long an auditor has to review an emergency access (policy/data/emergency.json).
REVIEW_WITHIN_NS = int(json.loads((POLICY_DIR / "data" / "emergency.json").read_text())["review_within_hours"]
                       * 3600 * 1_000_000_000)
_OUTCOME_PB = {"justified": common_pb2.EMERGENCY_REVIEW_OUTCOME_JUSTIFIED,
               "not-justified": common_pb2.EMERGENCY_REVIEW_OUTCOME_NOT_JUSTIFIED,
               "referred": common_pb2.EMERGENCY_REVIEW_OUTCOME_REFERRED}
NO_EMERGENCY = "no emergency access with this id"


def new_id() -> str:
    return str(uuid.uuid4())


def record_access(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, principal: Principal,
                  emergency_id: str, patient_id: str, justification: str, shared: Sequence[Record]) -> EmergencyAccess:
    """Keeps one emergency access (the fetch `emergency_id`) with its justification sealed,
    queues the patient's notice and ledgers it; in the fetch's transaction."""
    now = clock.now_ns()
    sealed = at_rest.seal_note(emergency_id, justification.encode(), kek)
    kek_fence.require_current(s, sealed.kek_id)
    holders = sorted({r.holder for r in shared})
    row = EmergencyAccess(
        emergency_id=emergency_id, patient_id=patient_id, recipient=principal.name,
        practitioner=principal.practitioner or "", role=principal.role or "", holders=holders,
        record_ids=[r.record_id for r in shared], justification_ciphertext=sealed.ciphertext,
        justification_wrapped_key=sealed.wrapped_key, justification_kek_id=sealed.kek_id, created_ns=now,
        review_due_ns=now + REVIEW_WITHIN_NS)
    s.add(row)
    notices.queue_notice(s, patient_id, notices.EMERGENCY_ACCESS, emergency_id)
    trail.append(s, "emergency.access", principal.id, patient_id=patient_id, emergency=emergency_id,
                 recipient="org:" + principal.name, practitioner=principal.practitioner, role=principal.role,
                 holders=["org:" + h for h in holders], records=row.record_ids, justification=True,
                 review_due=clock.rfc3339(row.review_due_ns))
    return row


def access_pb(row: EmergencyAccess, kek: KeyEncryptionKeyProvider, now_ns: int) -> common_pb2.EmergencyAccess:
    """The access as its readers see it, justification opened."""
    return common_pb2.EmergencyAccess(
        emergency_id=row.emergency_id, patient_id=row.patient_id, recipient=row.recipient,
        practitioner_id=row.practitioner, role=row.role, holders=row.holders, record_ids=row.record_ids,
        justification=justification_of(row, kek), access_time=to_timestamp(row.created_ns),
        review_due_time=to_timestamp(row.review_due_ns), overdue=row.reviewed_ns is None and row.review_due_ns < now_ns,
        outcome=_OUTCOME_PB.get(row.outcome or "", common_pb2.EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED),
        reviewer=row.reviewer or "", review_time=to_timestamp(row.reviewed_ns), review_comment=row.review_comment or "",
    )


def justification_of(row: EmergencyAccess, kek: KeyEncryptionKeyProvider) -> str:
    sealed = at_rest.SealedRecord(row.justification_ciphertext, row.justification_wrapped_key,
                                  row.justification_kek_id)
    return at_rest.open_note(row.emergency_id, sealed, kek).decode()


def readable(s: Session, emergency_id: str) -> EmergencyAccess:
    """The emergency access, for an auditor, the patient or a proxy with the read-history scope;
    to anyone else it does not exist."""
    principal = current_principal()
    principal.require("auditor", "patient")
    row = s.get(EmergencyAccess, emergency_id)
    if row is None:
        raise NotFound(NO_EMERGENCY)
    if principal.kind == "patient":
        acting_for_owner(s, row.patient_id, READ_HISTORY, NO_EMERGENCY)
    return row


def review_queue(s: Session, pending_only: bool, size: int, after: str) -> tuple[list[EmergencyAccess], str]:
    """Emergency accesses by review deadline, soonest first (only those not yet reviewed, with
    `pending_only`), for auditors; and the next page's token."""
    current_principal().require("auditor")
    query = select(EmergencyAccess)
    if pending_only:
        query = query.where(EmergencyAccess.reviewed_ns.is_(None))
    if after:
        due, emergency_id = after.split(":", 1)
        query = query.where((EmergencyAccess.review_due_ns > int(due)) | (
            (EmergencyAccess.review_due_ns == int(due)) & (EmergencyAccess.emergency_id > emergency_id)))
    rows = list(s.scalars(query.order_by(EmergencyAccess.review_due_ns, EmergencyAccess.emergency_id)
                          .limit(size + 1)))
    page = rows[:size]
    return page, (f"{page[-1].review_due_ns:019d}:{page[-1].emergency_id}" if len(rows) > size else "")


def review(s: Session, trail: AuditTrail, emergency_id: str, outcome: str, comment: str) -> EmergencyAccess:
    """Records an auditor's outcome, once; ledgered with whether it came after the deadline (the
    comment is the auditor's own words and stays out of the ledger)."""
    auditor = current_principal()
    auditor.require("auditor")
    row = s.get(EmergencyAccess, emergency_id)
    if row is None:
        raise NotFound(NO_EMERGENCY)
    if row.reviewed_ns is not None:
        raise FailedPrecondition(f"the emergency access was already reviewed: {row.outcome}")
    now = clock.now_ns()
    row.reviewed_ns, row.reviewer, row.outcome, row.review_comment = now, auditor.id, outcome, comment or None
    trail.append(s, "emergency.reviewed", auditor.id, patient_id=row.patient_id, emergency=emergency_id,
                 outcome=outcome, late=now > row.review_due_ns)
    return row
