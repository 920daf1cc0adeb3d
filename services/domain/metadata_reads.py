"""Every read of a patient's metadata is a ledger entry (HIPAA 164.312(b), PIPL 54).

One entry per call, whatever the page holds: it names the kind of read (`read`), how many items
the answer carried (`count`), the caller (an institution with its role and practitioner) and the
patient by the ledger pseudonym, never an id, a label or anything the items say. It is appended
in the read's own transaction, so an answer whose entry could not be written is never sent.

An institution that named a patient id and got nothing back learned nothing about them: that
entry names no patient (the caller chose the id), and is only listed in the patient's history
when the id is enrolled, as refusals are (docs/ledger.md, "Patients in entries").

Reads of the ledger itself (`ListEntries`) name the range read instead. A page holding nothing
but other read entries is not ledgered again, so a client that pages to the end terminates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import StoredEntry
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import LedgerSubject, Person

KIND = "metadata.read"

RECORDS = "records"
CONSENT = "consent"
CONSENTS = "consents"
CONSENT_EXPORT = "consent-export"
CONSENT_EVIDENCE = "consent-evidence"
CONSENT_RECEIPTS = "consent-receipts"
ACCESS_REQUEST = "access-request"
ACCESS_REQUESTS = "access-requests"
PROXIES = "proxies"
ACCESS_HISTORY = "access-history"
LEDGER_ENTRIES = "ledger-entries"
AUDIT_EVENTS = "audit-events"
NOTICES = "notices"
EMERGENCY_ACCESS = "emergency-access"
EMERGENCY_ACCESSES = "emergency-accesses"
RIGHTS_REQUESTS = "rights-requests"
REPRESENTATIVES = "representatives"


def ledger_read(s: Session, trail: AuditTrail, reader: Principal, read: str, patient_id: str, count: int,
                **fields: Any) -> int:
    """Appends the entry for one read about `patient_id` that answered `count` items."""
    chose_the_id = reader.kind == "org" and count == 0
    if chose_the_id and s.get(Person, patient_id) is None:
        return _append(s, trail, reader, read, count, None, **fields)
    return _append(s, trail, reader, read, count, patient_id, named=not chose_the_id,
                   on_behalf_of=_on_behalf(reader, patient_id), **fields)


def ledger_read_many(s: Session, trail: AuditTrail, reader: Principal, read: str, patient_ids: Sequence[str],
                     **fields: Any) -> int:
    """Appends the entry for one read spanning several patients (an institution's own access
    requests): it names none of them, and is listed in each one's history."""
    seq = _append(s, trail, reader, read, len(patient_ids), None, **fields)
    for pseudonym in sorted({trail.pseudonym(s, p) for p in patient_ids}):
        s.add(LedgerSubject(pseudonym=pseudonym, seq=seq, kind=KIND))
    return seq


def ledger_entries_read(s: Session, trail: AuditTrail, reader: Principal, start: int,
                        page: Sequence[StoredEntry], patient_id: str | None = None,
                        kind_of_read: str = LEDGER_ENTRIES) -> int | None:
    """Appends the entry for a page of ledger entries, unless it held only read entries (or
    nothing). A patient's own page names them; an auditor's page names no one, but is listed in
    the history of every patient the page's entries name by their ledger pseudonym (at most one
    index row per entry on the page)."""
    entries = [json.loads(e.entry) for e in page]
    if all(e.get("kind") == KIND for e in entries):
        return None
    fields = {"start": start, "through": page[-1].seq}
    if patient_id is not None:
        return _append(s, trail, reader, kind_of_read, len(page), patient_id,
                       on_behalf_of=_on_behalf(reader, patient_id), **fields)
    seq = _append(s, trail, reader, kind_of_read, len(page), None, **fields)
    named = {e["patient"] for e in entries if isinstance(e.get("patient"), str) and e.get("kind") != KIND}
    for pseudonym in _ledger_pseudonyms(s, named):
        s.add(LedgerSubject(pseudonym=pseudonym, seq=seq, kind=KIND))
    return seq


def _append(s: Session, trail: AuditTrail, reader: Principal, read: str, count: int, patient_id: str | None,
            **fields: Any) -> int:
    return trail.append(s, KIND, reader.id, patient_id=patient_id, read=read, count=count,
                        role=reader.role or None, practitioner=reader.practitioner or None, **fields)


def _on_behalf(reader: Principal, patient_id: str) -> str | None:
    """Marks a read a proxy made for the patient, as consent changes are marked."""
    return "patient" if reader.kind == "patient" and reader.name != patient_id else None


def _ledger_pseudonyms(s: Session, candidates: set[str]) -> list[str]:
    """Those of `candidates` that are ledger pseudonyms (institution and research pseudonyms are
    never in the index, and cannot be joined to a patient without it)."""
    if not candidates:
        return []
    return list(s.scalars(select(LedgerSubject.pseudonym).where(
        LedgerSubject.pseudonym.in_(sorted(candidates))).distinct()))
