"""Rights requests followed to their answer (PIPL 50): filed by the patient or a representative,
routed to the holder that must answer (or to the operator), with a deadline from policy data
(rights_deadlines), moved on by whoever must answer, every step ledgered without any text.

A request id the caller may not see answers exactly as one that does not exist.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.crypto import kek_fence
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.crypto.sealed_text import kek_of, open_text, request_context, seal_text
from consentry.services.domain import rights_deadlines
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.acting_for import EXERCISE_RIGHTS, READ_HISTORY, acting_for
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Institution, RightsRequest

NO_REQUEST = "no rights request with this id"
FINAL = ("completed", "refused")


def file_request(s: Session, trail: AuditTrail, patient_id: str, kind: str, holder: str | None, *,
                 record_id: str | None = None, status: str = "received") -> RightsRequest:
    """Files a request of `kind` for the patient, routed to `holder` (an institution id) or to
    the operator; the caller must be the patient or their representative."""
    actor = acting_for(s, patient_id, EXERCISE_RIGHTS)
    if holder is not None and s.get(Institution, holder) is None:
        raise NotFound("no institution with this id is registered")
    now = clock.now_ns()
    due = rights_deadlines.deadline(kind, now)
    row = RightsRequest(request_id=str(uuid.uuid4()), patient_id=patient_id, type=kind, holder=holder,
                        record_id=record_id, received_ns=now, deadline_ns=due.due_ns, deadline_basis=due.basis,
                        law=due.law, status=status, updated_ns=now, filed_by=actor.id)
    s.add(row)
    trail.append(s, "rights.requested", actor.id, patient_id=patient_id, request=row.request_id, type=kind,
                 holder="org:" + holder if holder else None, record=record_id, status=status,
                 on_behalf_of=None if actor.name == patient_id else "patient")
    return row


def requests_page(s: Session, patient_id: str, size: int, after: str) -> tuple[list[RightsRequest], str]:
    """The requests the caller may see, in id order: the patient's (patient or representative,
    with `patient_id`), those routed to an institution, or any (operator)."""
    principal = current_principal()
    principal.require("patient", "org", "operator")
    query = select(RightsRequest).where(RightsRequest.request_id > after)
    if principal.kind == "patient":
        acting_for(s, patient_id, READ_HISTORY)
    elif principal.kind == "org":
        query = query.where(RightsRequest.holder == principal.name)
    if patient_id:
        query = query.where(RightsRequest.patient_id == patient_id)
    rows = list(s.scalars(query.order_by(RightsRequest.request_id).limit(size + 1)))
    return rows[:size], rows[size - 1].request_id if len(rows) > size else ""


def answerable(s: Session, request_id: str, principal: Principal) -> RightsRequest:
    """The request, if `principal` answers it: the institution it is routed to, or the operator
    for any; NOT_FOUND otherwise."""
    principal.require("org", "operator")
    row = s.get(RightsRequest, request_id)
    if row is None or (principal.kind == "org" and row.holder != principal.name):
        raise NotFound(NO_REQUEST)
    return row


def move_on(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, request_id: str, status: str,
            refusal_reason: str, explanation: str) -> RightsRequest:
    """UpdateRightsRequest: the caller must answer the request, and a correction is completed or
    refused only by AnswerCorrection, which deposits the amendment or records the refusal."""
    principal = current_principal()
    row = answerable(s, request_id, principal)
    if row.type == "correction" and status in FINAL and row.status not in FINAL:
        raise FailedPrecondition("a correction is accepted or denied with AnswerCorrection")
    return update(s, trail, kek, row, principal, status, refusal_reason, explanation)


def update(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, row: RightsRequest, principal: Principal,
           status: str, refusal_reason: str = "", explanation: str = "") -> RightsRequest:
    """Moves the request on. A completed or refused request is final; a deadline is extended
    once, by what the law that set it allows."""
    if row.status in FINAL:
        raise FailedPrecondition(f"this request is already {row.status}")
    if status == "extended":
        if row.status == "extended":
            raise FailedPrecondition("this request's deadline was already extended")
        later = rights_deadlines.extended(row.type, row.law, row.deadline_ns)
        if later is None:
            raise FailedPrecondition(f"the law that set this deadline allows no extension ({row.deadline_basis})")
        row.deadline_ns = later
    row.status, row.updated_ns = status, clock.now_ns()
    row.refusal_reason = refusal_reason or None
    if explanation:
        row.explanation = _sealed(s, _context(row, "explanation"), explanation, kek)
    trail.append(s, "rights.updated", principal.id, patient_id=row.patient_id, request=row.request_id,
                 type=row.type, status=status, refusal_reason=refusal_reason or None,
                 role=principal.role or None, practitioner=principal.practitioner or None)
    return row


def seal_correction_text(s: Session, row: RightsRequest, text: str, kek: KeyEncryptionKeyProvider) -> None:
    row.correction_text = _sealed(s, _context(row, "correction_text"), text, kek) if text else None


def _sealed(s: Session, context: str, text: str, kek: KeyEncryptionKeyProvider) -> bytes:
    blob = seal_text(context, text, kek)
    kek_fence.require_current(s, kek_of(blob))  # no data key stored under a KEK being retired
    return blob


def texts(row: RightsRequest, kek: KeyEncryptionKeyProvider) -> tuple[str, str]:
    """The request's correction text and explanation, opened."""
    correction = open_text(_context(row, "correction_text"), row.correction_text, kek) if row.correction_text else ""
    explanation = open_text(_context(row, "explanation"), row.explanation, kek) if row.explanation else ""
    return correction, explanation


def _context(row: RightsRequest, column: str) -> str:
    return request_context(row.request_id, column)
