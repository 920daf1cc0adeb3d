"""The policy's input documents, as docs/policy.md specifies them.

A read is asked in the shared batch shape: `read_shared` once per fetch (the consents are encoded
once) plus one `resource` per candidate record. An erasure is one complete input.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from consentry.services.domain.record_requests import Fetch
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Record


def read_shared(principal: Principal, fetch: Fetch, consents: list[dict], now_ns: int) -> dict:
    """Every field of a read's input but `resource`, the same for each record of one fetch."""
    return {
        "subject": {"org": principal.name, "kind": principal.institution_kind, "role": principal.role,
                    "practitioner": principal.practitioner},
        "action": "read",
        "purpose": fetch.purpose,
        "emergency": {"declared": fetch.emergency, "reason": fetch.justification},
        "consents": consents,
        "now": now_ns,
    }


def resource(s: Session, trail: AuditTrail, record: Record) -> dict:
    """A record as the policy sees it: the patient only as the ledger's pseudonym."""
    return record_resource(record, trail.pseudonym(s, record.patient_id))


def record_resource(record: Record, pseudonym: str) -> dict:
    """`resource`, given the patient's ledger pseudonym."""
    return {
        "patient": pseudonym, "record": record.record_id,
        "category": record.category, "labels": list(record.labels), "holder": record.holder,
        "effective": record.effective_ns,
    }


def erasure(s: Session, by: str, trail: AuditTrail, record: Record, now_ns: int) -> dict:
    """Whether `by` ("patient" or "proxy") may erase `record`."""
    return {"subject": {"kind": by}, "action": "erase", "resource": resource(s, trail, record), "now": now_ns}
