"""Erasing a record: its body and wrapped data key destroyed, the erasure ledgered.

The holder erases its own records; the patient, or a proxy with the manage-consents scope,
erases one where the policy allows (action "erase", policy/data/erasure.json). To anyone else a
record id answers exactly as one that does not exist (NOT_FOUND).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from consentry.policy.engine import UNAVAILABLE, PolicyEngine
from consentry.services import clock
from consentry.services.domain import policy_input
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from consentry.services.identity.acting_for import MANAGE_CONSENTS, about_enrolled, acting_for_owner
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Record

NOT_HELD = "this institution holds no record with this id"
NO_RECORD = "no record with this id"


def erase(s: Session, trail: AuditTrail, policy: PolicyEngine, principal: Principal,
          record_id: str) -> tuple[Record, int]:
    """Erases the record for `principal`; returns the row and the seq of its "record.erased" entry."""
    # The ledger writer first, as in a fetch: concurrent erasures of one record serialise,
    # so exactly one of them erases and ledgers.
    trail.writer(s)
    row = s.get(Record, record_id)
    if principal.kind == "org":
        if row is None:
            raise NotFound(NOT_HELD)
        if row.holder != principal.name:
            raise about_enrolled(s, NotFound(NOT_HELD), row.patient_id)
        by, ledgered = "holder", {}
    else:
        if row is None:
            raise NotFound(NO_RECORD)
        acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_RECORD)  # the patient or their proxy
        by = "patient" if principal.name == row.patient_id else "proxy"
    if row.erased_ns is not None:
        raise FailedPrecondition("the record is already erased")
    if by != "holder":
        ledgered = _erasure_decision(s, trail, policy, row, by)
    # The content hash goes too: it could confirm a guess of the body the erasure destroyed.
    row.ciphertext, row.wrapped_key, row.content_hash, row.erased_ns = None, None, None, clock.now_ns()
    seq = trail.append(s, "record.erased", principal.id, patient_id=row.patient_id,
                       record=row.record_id, category=row.category, erased_by=by,
                       on_behalf_of="patient" if by == "proxy" else None,
                       role=principal.role or None, practitioner=principal.practitioner or None,
                       **ledgered)
    return row, seq


def _erasure_decision(s: Session, trail: AuditTrail, policy: PolicyEngine, row: Record, by: str) -> dict:
    """Asks the policy whether `by` ("patient" or "proxy") may erase `row`; raises unless it may."""
    [decision] = policy.decide([policy_input.erasure(s, by, trail, row, clock.now_ns())])
    if not decision.allow:
        if any(r.startswith(UNAVAILABLE) for r in decision.reasons):
            raise Unavailable("the policy engine could not decide; nothing was erased")
        # The caller is the patient or their proxy (acting_for_owner), so the entry may name them.
        raise PermissionDenied("the policy does not let you erase this record",
                               decision.reasons).about(row.patient_id, acting_for=True)
    return {"policy_revision": policy.revision, "reasons": list(decision.reasons)}
