"""An institution asks for consent; the patient (or a proxy) approves, possibly narrower, or
declines; a pending request expires. Every step is ledgered in the caller's write transaction.

Asking never tells the institution whether the patient is enrolled: a request for an unknown id
is stored like any other and simply expires. To anyone but its requester, the patient and their
proxies a request id answers exactly as one that does not exist (NOT_FOUND, `NO_REQUEST`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.domain import notices
from consentry.services.domain.consent_changes import Change, insert_consent, ledger_consent, ledger_signed
from consentry.services.domain.consent_evidence import Subject
from consentry.services.domain.consents import expire_lapsed, narrowed, narrower_violations
from consentry.services.domain.privacy_notices import NoticeBinding, binding_for
from consentry.services.domain.validation import Violations
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.acting_for import MANAGE_CONSENTS, about_enrolled, acting_for, acting_for_owner
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import AccessRequest, Person

NO_REQUEST = "no access request with this id"


def status_of(row: AccessRequest, now_ns: int) -> str:
    """The request's status at `now_ns`: a pending request past its expiry reads as expired."""
    return "expired" if row.status == "pending" and row.expire_ns <= now_ns else row.status


def request_access(s: Session, trail: AuditTrail, requester: Principal, patient_id: str, terms: dict,
                   reason: str, now_ns: int, expire_ns: int, notice: NoticeBinding) -> AccessRequest:
    """Stores the request with the requester's privacy notice, which must cover the terms."""
    bound = binding_for(s, notice, requester.name, terms)
    # Ledgered about the patient only when enrolled: an unknown id never becomes a pseudonym.
    about = patient_id if s.get(Person, patient_id) is not None else None
    row = AccessRequest(request_id=str(uuid.uuid4()), patient_id=patient_id, requester=requester.name,
                        terms=terms, reason=reason, status="pending", created_ns=now_ns, expire_ns=expire_ns,
                        notice_id=bound.notice_id, notice_version=bound.version, notice_sha256=bound.sha256)
    s.add(row)
    if about is not None:
        notices.queue_notice(s, about, notices.ACCESS_REQUESTED, row.request_id)
    trail.append(s, "consent.requested", requester.id, patient_id=about, request=row.request_id,
                 categories=terms["categories"], purposes=terms["purposes"],
                 role=requester.role, practitioner=requester.practitioner)
    return row


def notice_of(row: AccessRequest) -> NoticeBinding | None:
    """The privacy notice shown with the request; None for requests from before notices."""
    if row.notice_id is None or row.notice_version is None or row.notice_sha256 is None:
        return None
    return NoticeBinding(row.notice_id, row.notice_version, row.notice_sha256)


def readable_request(s: Session, request_id: str) -> AccessRequest:
    """The request, for its requester, the patient or a proxy with the manage-consents scope."""
    principal = current_principal()
    principal.require("org", "patient")
    row = s.get(AccessRequest, request_id)
    if row is None:
        raise NotFound(NO_REQUEST)
    if principal.kind == "org":
        if principal.name != row.requester:
            raise about_enrolled(s, NotFound(NO_REQUEST), row.patient_id)
    else:
        acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_REQUEST)
    return row


def visible_requests(s: Session, principal: Principal, patient_id: str, after: str) -> list[AccessRequest]:
    """The requests after the token that the caller may see, in id order: an institution its own
    (for one patient if named), the patient or a proxy the patient's."""
    query = select(AccessRequest)
    if principal.kind == "org":
        query = query.where(AccessRequest.requester == principal.name)
        if patient_id:
            query = query.where(AccessRequest.patient_id == patient_id)
    else:
        acting_for(s, patient_id, MANAGE_CONSENTS)
        query = query.where(AccessRequest.patient_id == patient_id)
    if after:
        query = query.where(AccessRequest.request_id > after)
    return list(s.scalars(query.order_by(AccessRequest.request_id)))


def approve(s: Session, trail: AuditTrail, request_id: str, terms: dict | None) -> tuple[AccessRequest, Change]:
    """Grants the requested terms, or the narrower `terms`; returns the request and the consent
    granted with its `consent.granted` entry."""
    row, actor = _pending(s, trail, request_id)
    if terms is None:
        terms = {"broad_categories": None, **row.terms}
    else:
        v = Violations()
        narrower_violations(v, "terms", row.terms, terms)
        v.raise_if_any()
        terms = narrowed(row.terms, terms)
    consent = insert_consent(s, trail, actor, row.patient_id, row.requester, terms, notice_of(row))
    row.status, row.decided_ns, row.consent_id = "approved", clock.now_ns(), consent.consent_id
    subject = Subject(consent_id=consent.consent_id, version=consent.version, request_id=row.request_id)
    ledger_signed(s, trail, "consent.request.approved", actor, row.patient_id, subject, request=row.request_id,
                  consent=consent.consent_id)
    return row, Change(consent, ledger_consent(s, trail, "consent.granted", actor, consent, request_id=row.request_id))


def decline(s: Session, trail: AuditTrail, request_id: str, reason: str) -> AccessRequest:
    row, actor = _pending(s, trail, request_id)
    row.status, row.decided_ns, row.decline_reason = "declined", clock.now_ns(), reason or None
    ledger_signed(s, trail, "consent.request.declined", actor, row.patient_id, Subject(request_id=row.request_id),
                  request=row.request_id)
    return row


def _pending(s: Session, trail: AuditTrail, request_id: str) -> tuple[AccessRequest, Principal]:
    """The still pending request and who answers it for the patient."""
    current_principal().require("patient")
    row = s.get(AccessRequest, request_id)
    if row is None:
        raise NotFound(NO_REQUEST)
    actor = acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_REQUEST)
    expire_lapsed(s, trail, row.patient_id)
    if row.status != "pending":
        raise FailedPrecondition(f"the request is already {row.status}")
    if row.expire_ns <= clock.now_ns():
        raise FailedPrecondition("the request has expired")
    return row, actor
