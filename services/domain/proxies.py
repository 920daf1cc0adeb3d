"""A patient names, and removes, the people who may act for them; only the patient in person
does this (PATIENT_ONLY), and each change is ledgered in the caller's write transaction, with
the patient's signed call kept as its evidence (consent_evidence)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services.domain.consent_changes import ledger_signed
from consentry.services.domain.consent_evidence import Subject
from consentry.services.errors import NotFound
from consentry.services.identity.acting_for import PATIENT_ONLY, acting_for
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Person, Proxy


def add_proxy(s: Session, trail: AuditTrail, patient_id: str, proxy_id: str, scopes: list[str],
              relationship: str, now_ns: int, expire_ns: int | None) -> Proxy:
    """Names the proxy, or renews an earlier (possibly removed) naming with these terms."""
    actor = acting_for(s, patient_id, PATIENT_ONLY)
    if s.get(Person, proxy_id) is None:
        raise NotFound("the proxy must be an enrolled person")
    row = s.get(Proxy, (patient_id, proxy_id))
    if row is None:
        row = Proxy(patient_id=patient_id, proxy_id=proxy_id)
        s.add(row)
    row.scopes = scopes
    row.relationship, row.created_ns, row.expire_ns, row.removed_ns = relationship, now_ns, expire_ns, None
    ledger_signed(s, trail, "proxy.named", actor, patient_id, Subject(proxy_id=proxy_id),
                  proxy=trail.actor(s, "patient:" + proxy_id), scopes=row.scopes)
    return row


def remove_proxy(s: Session, trail: AuditTrail, patient_id: str, proxy_id: str, now_ns: int) -> Proxy:
    actor = acting_for(s, patient_id, PATIENT_ONLY)
    row = s.get(Proxy, (patient_id, proxy_id))
    if row is None or row.removed_ns is not None:
        raise NotFound("this person is not the patient's proxy")
    row.removed_ns = now_ns
    ledger_signed(s, trail, "proxy.removed", actor, patient_id, Subject(proxy_id=proxy_id),
                  proxy=trail.actor(s, "patient:" + proxy_id))
    return row


def proxies_of(s: Session, patient_id: str) -> list[Proxy]:
    """Every proxy the patient ever named (removed ones too), for the patient alone."""
    acting_for(s, patient_id, PATIENT_ONLY)
    return list(s.scalars(select(Proxy).where(Proxy.patient_id == patient_id).order_by(Proxy.proxy_id)))
