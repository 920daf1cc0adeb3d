"""Received or only made available (docs/disclosure.md, "Received or made available").

A fetch ledgers its decisions before anything leaves, so an allowed `access.decision` says the
share was made available to the recipient, not that it arrived: the stream may be cut (the
server drains, the client goes away, a deadline passes). Once the stream has handed its last
message to gRPC, the fetch ledgers one `access.delivered` entry naming, by seq, the decisions
it carried; `AccessDelivery` indexes them, so the patient's history shows each allowed decision
as received or as made available but not confirmed received.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services.domain.disclosure import Outcome
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import AccessDelivery

KIND = "access.delivered"


def ledger_delivery(s: Session, trail: AuditTrail, principal: Principal, outcomes: Sequence[Outcome]) -> int | None:
    """Ledgers that the shares among `outcomes` reached the recipient; the entry's seq, or None
    when the fetch shared nothing. The entry names the patient as the decisions do (the
    pseudonym scoped to the recipient), the decisions by seq, and nothing of the records."""
    shared = [o for o in outcomes if o.package is not None]
    if not shared:
        return None
    named_as = json.loads(shared[0].ledger_entry).get("patient")
    decisions = [o.ledger_seq for o in shared]
    seq = trail.append(s, KIND, principal.id, patient_id=shared[0].record.patient_id, named_as=named_as,
                       decisions=decisions, count=len(decisions))
    s.add_all(AccessDelivery(decision_seq=d, delivered_seq=seq) for d in decisions)
    return seq


def delivered(s: Session, decision_seqs: Sequence[int]) -> set[int]:
    """Which of the decisions at `decision_seqs` a completed fetch confirmed delivered."""
    if not decision_seqs:
        return set()
    return set(s.scalars(select(AccessDelivery.decision_seq).where(
        AccessDelivery.decision_seq.in_(sorted(set(decision_seqs))))))
