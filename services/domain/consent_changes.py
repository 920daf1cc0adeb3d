"""Giving, narrowing and revoking consent, and reading it back; every change ledgered in the
caller's write transaction.

A change is made by the patient or a proxy with the manage-consents scope (`acting_for`), who
signed it: its ledger entry names their token and the token is kept (consent_evidence). A
consent is read by them or by its grantee. Lapsed consents are marked expired first, so a change
never starts from a consent that has already ended. To anyone else a consent id answers exactly
as an id that does not exist (NOT_FOUND, `NO_CONSENT`).
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import Appended
from consentry.services import clock
from consentry.services.domain import consent_evidence
from consentry.services.domain.consents import (
    effective_status,
    expire_lapsed,
    narrowed,
    narrower_violations,
    seal_consent,
    terms_of,
)
from consentry.services.domain.privacy_notices import NoticeBinding, binding_for
from consentry.services.domain.research_subjects import subject_of
from consentry.services.domain.validation import Violations
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.acting_for import MANAGE_CONSENTS, about_enrolled, acting_for, acting_for_owner
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Consent, Institution

NO_CONSENT = "no consent with this id"


class Change(NamedTuple):
    """A consent version as a change left it, and the change's ledger entry (its receipt's basis)."""

    row: Consent
    entry: Appended


def ledger_for_patient(s: Session, trail: AuditTrail, kind: str, actor: Principal, patient_id: str,
                       **fields: Any) -> Appended:
    """Appends an event about the patient's consents, marked when a proxy acted on their behalf."""
    on_behalf = None if actor.name == patient_id else "patient"
    return trail.append_entry(s, kind, actor.id, patient_id=patient_id, on_behalf_of=on_behalf, **fields)


def ledger_signed(s: Session, trail: AuditTrail, kind: str, actor: Principal, patient_id: str,
                  subject: consent_evidence.Subject, **fields: Any) -> Appended:
    """Appends the event of a change the caller signed: the entry names the call's token by its
    SHA-256 (`authorization`), and the token and request bytes are kept as its evidence."""
    appended = ledger_for_patient(s, trail, kind, actor, patient_id, authorization=consent_evidence.authorization(),
                                  **fields)
    consent_evidence.keep(s, appended.seq, patient_id, subject)
    return appended


def insert_consent(s: Session, trail: AuditTrail, actor: Principal, patient_id: str, grantee: str, terms: dict,
                   notice: NoticeBinding | None, consent_id: str | None = None, version: int = 1) -> Consent:
    consent_id = consent_id or str(uuid.uuid4())
    row = Consent(consent_id=consent_id, version=version, patient_id=patient_id, grantee=grantee, status="active",
                  created_by=actor.id, created_ns=clock.now_ns(),
                  subject_id=subject_of(trail.pseudonym_key, consent_id, terms["kind"]),
                  notice_id=notice.notice_id if notice else None, notice_version=notice.version if notice else None,
                  notice_sha256=notice.sha256 if notice else None, **terms)
    seal_consent(trail.pseudonym_key, row)
    s.add(row)
    return row


def ledger_consent(s: Session, trail: AuditTrail, kind: str, actor: Principal, row: Consent,
                   request_id: str | None = None, **extra: Any) -> Appended:
    """Appends the signed event that made this consent version (from the access request
    `request_id`, for an approval)."""
    subject = consent_evidence.Subject(consent_id=row.consent_id, version=row.version, request_id=request_id)
    notice = notice_of(row)
    if notice is not None:
        extra.update(notice=notice.notice_id, notice_version=notice.version, notice_sha256=notice.sha256)
    if row.broad_categories is not None:
        extra.update(broad_categories=list(row.broad_categories))
    return ledger_signed(s, trail, kind, actor, row.patient_id, subject, consent=row.consent_id,
                         version=row.version, request=request_id, grantee="org:" + row.grantee,
                         consent_kind=row.kind, categories=list(row.categories), purposes=list(row.purposes),
                         excepted=list(row.excepted), **extra)


def notice_of(row: Consent) -> NoticeBinding | None:
    """The privacy notice the version was given under; None for versions from before notices."""
    if row.notice_id is None or row.notice_version is None or row.notice_sha256 is None:
        return None
    return NoticeBinding(row.notice_id, row.notice_version, row.notice_sha256)


def grant(s: Session, trail: AuditTrail, patient_id: str, grantee: str, terms: dict, notice: NoticeBinding,
          **ledgered: Any) -> Change:
    """Grants a consent under the privacy notice the patient was shown (privacy_notices.binding_for)."""
    actor = acting_for(s, patient_id, MANAGE_CONSENTS)
    expire_lapsed(s, trail, patient_id)
    if s.get(Institution, grantee) is None:
        raise NotFound("no institution with this id is registered")
    row = insert_consent(s, trail, actor, patient_id, grantee, terms, binding_for(s, notice, grantee, terms))
    return Change(row, ledger_consent(s, trail, "consent.granted", actor, row, **ledgered))


def narrow(s: Session, trail: AuditTrail, consent_id: str, terms: dict) -> Change:
    """Supersedes the active consent with a new version whose terms only take away."""
    current_principal().require("patient")
    old = latest(s, consent_id)
    actor = acting_for_owner(s, old.patient_id, MANAGE_CONSENTS, NO_CONSENT)
    expire_lapsed(s, trail, old.patient_id)
    if effective_status(old, clock.now_ns()) != "active":
        raise FailedPrecondition("only an active consent can be narrowed")
    v = Violations()
    narrower_violations(v, "terms", terms_of(old), terms)
    v.raise_if_any()
    terms = narrowed(terms_of(old), terms)
    old.status = "superseded"
    seal_consent(trail.pseudonym_key, old)
    # Narrowing only takes away, so the notice the consent was given under still covers it.
    row = insert_consent(s, trail, actor, old.patient_id, old.grantee, terms, notice_of(old), old.consent_id,
                         old.version + 1)
    return Change(row, ledger_consent(s, trail, "consent.narrowed", actor, row))


def revoke(s: Session, trail: AuditTrail, consent_id: str, reason: str) -> Change:
    current_principal().require("patient")
    row = latest(s, consent_id)
    actor = acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_CONSENT)
    expire_lapsed(s, trail, row.patient_id)
    if row.status != "active":
        raise FailedPrecondition(f"the consent is already {row.status}")
    row.status, row.revoked_ns, row.revoke_reason = "revoked", clock.now_ns(), reason or None
    seal_consent(trail.pseudonym_key, row)
    entry = ledger_signed(s, trail, "consent.revoked", actor, row.patient_id,
                          consent_evidence.Subject(consent_id=row.consent_id, version=row.version),
                          consent=row.consent_id, version=row.version, grantee="org:" + row.grantee)
    return Change(row, entry)


def latest(s: Session, consent_id: str) -> Consent:
    row = s.scalars(select(Consent).where(Consent.consent_id == consent_id)
                    .order_by(Consent.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(NO_CONSENT)
    return row


def readable_latest(s: Session, consent_id: str) -> Consent:
    current_principal().require("org", "patient")
    row = latest(s, consent_id)
    may_read(s, row)
    return row


def readable_versions(s: Session, consent_id: str) -> list[Consent]:
    """Every version of the consent, oldest first."""
    current_principal().require("org", "patient")
    rows = list(s.scalars(select(Consent).where(Consent.consent_id == consent_id).order_by(Consent.version)))
    if not rows:
        raise NotFound(NO_CONSENT)
    may_read(s, rows[-1])
    return rows


def may_read(s: Session, row: Consent) -> None:
    """Its grantee, the patient and a proxy with the manage-consents scope may read a consent;
    to any other institution or person it does not exist."""
    principal = current_principal()
    if principal.kind == "org":
        if principal.name != row.grantee:
            raise about_enrolled(s, NotFound(NO_CONSENT), row.patient_id)
        return
    acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_CONSENT)


def consents_page(s: Session, patient_id: str, include_inactive: bool, size: int, after: str,
                  now_ns: int) -> tuple[list[Consent], str]:
    """One page of the patient's consents (every version, with `include_inactive`) as the caller
    may see them, and the next page's token ("" on the last page)."""
    query = select(Consent).where(Consent.patient_id == patient_id)
    principal = current_principal()
    if principal.kind == "org":
        query = query.where(Consent.grantee == principal.name)
    else:
        acting_for(s, patient_id, MANAGE_CONSENTS)
    if not include_inactive:
        query = query.where(Consent.status == "active")
    rows = [r for r in s.scalars(query.order_by(Consent.consent_id, Consent.version))
            if _page_key(r) > after and (include_inactive or effective_status(r, now_ns) == "active")]
    page = rows[:size]
    return page, _page_key(page[-1]) if len(rows) > size else ""


def _page_key(row: Consent) -> str:
    return f"{row.consent_id}:{row.version:09d}"
