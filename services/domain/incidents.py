"""Breach scope: which patients an incident touches, from the server's own database, and the
notices the operator sends them (PIPL 57, GDPR 33/34). For the operator only: the answer names
patients by id.

Three kinds of incident:

- a recipient's encryption key leaked: every share sealed to it (allowed `access.decision`
  entries whose `recipient_key` is that key) could be opened by whoever holds it;
- a KEK leaked: every live record whose data key it wraps (`records.kek_id`); with the record
  keys (crypto/record_keys.py) too, the bodies could be decrypted from a copy of the database;
- a window of time (a server compromised from T1 to T2): every record disclosed in it (allowed
  `access.decision` entries whose time falls in the window).

Entries name patients by pseudonym; the service's index (`ledger_subjects`) and each patient's
own pseudonym key join them back. A patient whose key was destroyed (erased) is found no more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger import patient_pseudonym, tombstone_commitment
from consentry.ledger.db import LedgerReader
from consentry.services.store.models import LedgerSubject, PatientPseudonymKey, Record

ACCESS = "access.decision"
_BATCH = 500


@dataclass
class Affected:
    """One patient an incident touches: the records and categories, and who received them."""

    patient_id: str
    records: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    recipients: set[str] = field(default_factory=set)
    first: str = ""  # earliest and latest time of the disclosures (RFC 3339), when there were any
    last: str = ""

    def note(self, record: str, category: str, recipient: str = "", time: str = "") -> None:
        self.records.add(record)
        if category:
            self.categories.add(category)
        if recipient:
            self.recipients.add(recipient)
        if time:
            self.first = min(self.first or time, time)
            self.last = max(self.last, time)


def by_kek(s: Session, kek_id: str) -> list[Affected]:
    """The patients with a live (not erased) record whose data key `kek_id` wraps."""
    found: dict[str, Affected] = {}
    rows = s.execute(select(Record.patient_id, Record.record_id, Record.category).where(
        Record.kek_id == kek_id, Record.erased_ns.is_(None)))
    for patient_id, record_id, category in rows:
        found.setdefault(patient_id, Affected(patient_id)).note(record_id, category)
    return _sorted(found)


def by_recipient_key(s: Session, key_id: str) -> list[Affected]:
    """The patients whose records were shared sealed to the encryption key `key_id`."""
    return _disclosures(s, lambda entry: entry.get("recipient_key") == key_id)


def by_window(s: Session, from_ns: int, to_ns: int) -> list[Affected]:
    """The patients whose records were disclosed between `from_ns` and `to_ns` (inclusive)."""
    return _disclosures(s, lambda entry: from_ns <= time_ns(entry.get("time")) <= to_ns)


def _disclosures(s: Session, matches: Callable[[dict], bool]) -> list[Affected]:
    found: dict[str, Affected] = {}
    patients = _patients_by_pseudonym(s)
    index = s.execute(select(LedgerSubject.pseudonym, LedgerSubject.seq).where(LedgerSubject.kind == ACCESS)).all()
    whose = {seq: patients[pseudonym] for pseudonym, seq in index if pseudonym in patients}
    reader = LedgerReader(s.connection())
    for batch in _chunks(sorted(whose), _BATCH):
        for stored in reader.entries_at(batch):
            if tombstone_commitment(stored.entry) is not None:
                continue
            entry = json.loads(stored.entry)
            if entry.get("allowed") is True and matches(entry):
                patient_id = whose[stored.seq]
                found.setdefault(patient_id, Affected(patient_id)).note(
                    str(entry.get("record", "")), str(entry.get("category", "")), str(entry.get("actor", "")),
                    str(entry.get("time", "")))
    return _sorted(found)


def _patients_by_pseudonym(s: Session) -> dict[str, str]:
    rows = s.execute(select(PatientPseudonymKey.patient_id, PatientPseudonymKey.key).where(
        PatientPseudonymKey.key.is_not(None)))
    return {patient_pseudonym(bytes(key), patient_id): patient_id for patient_id, key in rows if key is not None}


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _sorted(found: dict[str, Affected]) -> list[Affected]:
    return [found[k] for k in sorted(found)]


def time_ns(value: object) -> int:
    """An RFC 3339 time (UTC, `Z` or an offset) as epoch nanoseconds; -1 when it is none."""
    if not isinstance(value, str) or not value:
        return -1
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    fraction = "0"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        text = head + rest[len(digits):]
        fraction = (digits + "000000000")[:9]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} names no time zone")
    return int(moment.timestamp()) * 1_000_000_000 + int(fraction)
