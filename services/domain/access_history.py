"""A patient's access history as the ledger holds it: the decisions (allowed or refused,
emergencies included) and refused calls about their records, found through the patient's
pseudonym in the ledger index and read from the entries themselves.

GetAccessHistory pages through it and WatchAccess streams it; both build each AccessEvent here,
so a client sees one event the same way on either.
"""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger import tombstone_commitment
from consentry.ledger.db import LedgerReader
from consentry.services.domain import delivery
from consentry.services.store.models import LedgerSubject
from consentry.v1 import consent_pb2 as pb

KINDS = ("access.decision", "call.refused")


def history_seqs(s: Session, pseudonym: str | None, after: int, limit: int) -> list[int]:
    """Up to `limit` seqs of the patient's history entries after `after`, in order."""
    if pseudonym is None:
        return []
    return list(s.scalars(select(LedgerSubject.seq).where(
        LedgerSubject.pseudonym == pseudonym, LedgerSubject.seq > after, LedgerSubject.kind.in_(KINDS),
    ).order_by(LedgerSubject.seq).limit(limit)))


def access_events(s: Session, seqs: list[int], *, with_delivery: bool = True) -> list[pb.AccessEvent]:
    """The events of the entries at `seqs`, each allowed one received or not confirmed received
    (domain/delivery.py) unless not `with_delivery`: a watch pushes a decision as it commits,
    before its fetch has sent anything, so it leaves the status to GetAccessHistory. A tombstone
    (an erased record's entry) is no longer history: it has none."""
    rows = LedgerReader(s.connection()).entries_at(seqs)
    events = [access_event(e.seq, json.loads(e.entry)) for e in rows if tombstone_commitment(e.entry) is None]
    if not with_delivery:
        return events
    received = delivery.delivered(s, [e.ledger_seq for e in events if e.allowed])
    for event in events:
        if event.allowed:
            event.delivery = (pb.DELIVERY_STATUS_RECEIVED if event.ledger_seq in received
                              else pb.DELIVERY_STATUS_NOT_CONFIRMED)
    return events


def access_event(seq: int, e: dict) -> pb.AccessEvent:
    when = Timestamp()
    when.FromJsonString(e["time"])
    actor = e.get("actor", "")
    return pb.AccessEvent(
        ledger_seq=seq, time=when, institution_id=actor.split(":", 1)[1] if actor.startswith("org:") else actor,
        role=e.get("role", ""), practitioner_id=e.get("practitioner", ""), purpose=e.get("purpose", ""),
        record_id=e.get("record", ""), category=e.get("category", ""), allowed=bool(e.get("allowed", False)),
        reasons=e.get("reasons", []), consent_ids=e.get("consents", []), emergency=bool(e.get("emergency", False)),
        obligations=e.get("obligations", []), emergency_access_id=e.get("emergency_access", ""),
    )
