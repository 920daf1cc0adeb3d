"""A minor's legal guardian (PIPL 31) and a deceased patient's next of kin (PIPL 49), established
by the operator on evidence it keeps (its type and SHA-256 are ledgered); they then act for the
patient (identity/acting_for.py) until ended, or until `end_ns` (a minor comes of age)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import NotFound
from consentry.services.identity.acting_for import READ_HISTORY, acting_for
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Person, Representative


def establish(s: Session, trail: AuditTrail, operator: Principal, patient_id: str, representative_id: str,
              basis: str, evidence_type: str, evidence_hash: str, end_ns: int | None) -> tuple[Representative, int]:
    operator.require("operator")
    if s.get(Person, patient_id) is None or s.get(Person, representative_id) is None:
        raise NotFound("the patient and the representative must both be enrolled")
    row = s.get(Representative, (patient_id, representative_id))
    if row is None:
        row = Representative(patient_id=patient_id, representative_id=representative_id)
        s.add(row)
    row.basis, row.evidence_type, row.evidence_hash = basis, evidence_type, evidence_hash
    row.created_ns, row.end_ns, row.ended_ns = clock.now_ns(), end_ns, None
    seq = trail.append(s, "representative.established", operator.id, patient_id=patient_id,
                       representative=trail.actor(s, "patient:" + representative_id), basis=basis,
                       evidence_type=evidence_type, evidence_hash=evidence_hash,
                       until=clock.rfc3339(end_ns) if end_ns is not None else None)
    return row, seq


def end(s: Session, trail: AuditTrail, operator: Principal, patient_id: str, representative_id: str) -> Representative:
    operator.require("operator")
    row = s.get(Representative, (patient_id, representative_id))
    if row is None or row.ended_ns is not None:
        raise NotFound("this person is not the patient's representative")
    row.ended_ns = clock.now_ns()
    trail.append(s, "representative.ended", operator.id, patient_id=patient_id,
                 representative=trail.actor(s, "patient:" + representative_id), basis=row.basis)
    return row


def of_patient(s: Session, patient_id: str) -> list[Representative]:
    """Every representative established for the patient (ended ones too): for the operator, the
    patient and their representatives."""
    if current_principal().kind != "operator":
        acting_for(s, patient_id, READ_HISTORY)
    return list(s.scalars(select(Representative).where(Representative.patient_id == patient_id)
                          .order_by(Representative.representative_id)))
