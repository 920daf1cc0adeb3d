"""The service's one door into the ledger.

Every event is appended inside the caller's write transaction, so it commits together with the
state change it records, or not at all (no audit, no access). Patients appear only as keyed
pseudonyms (docs/ledger.md says which entry carries which); no clinical content is ever passed in
here.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.orm import Session

from consentry.ledger.db import MAX_REDACTED_PER_ENTRY, Appended, LedgerWriter
from consentry.ledger.pseudonym import patient_pseudonym
from consentry.services import metrics
from consentry.services.clock import now_rfc3339
from consentry.services.store import pseudonym_keys
from consentry.services.store.models import LedgerSubject

_WRITER = "consentry.ledger_writer"

# Reason codes of `ledger.redacted` entries (docs/ledger.md, "Redaction"); never free text.
ERASURE = "erasure"
RETENTION = "retention"


def _flush(writer: LedgerWriter, first: int) -> None:
    """Writes the transaction's entries, counting them and the time it took (services/metrics.py)."""
    started = time.perf_counter()
    writer.flush()
    if writer.next_seq > first:
        metrics.LEDGER_APPEND_SECONDS.observe(time.perf_counter() - started)
        metrics.LEDGER_APPEND_BATCH.observe(writer.next_seq - first)
        metrics.LEDGER_ENTRIES.set(writer.next_seq)


class AuditTrail:
    def __init__(self, pseudonym_key: bytes) -> None:
        # The service secret: institution and research pseudonyms and other derived values
        # (crypto/derived.py). The ledger pseudonym is under each patient's own key instead.
        self.pseudonym_key = pseudonym_key

    def pseudonym(self, session: Session, patient_id: str) -> str:
        """The patient's ledger pseudonym, under their own key, made now if they have none (so
        the ledger's tail is locked first: a write transaction only)."""
        self.writer(session)
        return patient_pseudonym(pseudonym_keys.ensure_key(session, patient_id), patient_id)

    def known_pseudonym(self, session: Session, patient_id: str) -> str | None:
        """The patient's ledger pseudonym, or None when no entry has named them (any transaction)."""
        return pseudonym_keys.pseudonym_of(session, patient_id)

    def actor(self, session: Session, principal_id: str) -> str:
        """A principal as the ledger names it: patients by pseudonym, everyone else as is."""
        if principal_id.startswith("patient:"):
            return "patient:" + self.pseudonym(session, principal_id.split(":", 1)[1])
        return principal_id

    def writer(self, session: Session) -> LedgerWriter:
        """The transaction's ledger writer; taking it locks the ledger tail until commit."""
        writer = session.info.get(_WRITER)
        if writer is None:
            writer = LedgerWriter.lock(session.connection())
            session.info[_WRITER] = writer
            # Entries are buffered by the writer; they reach the database with the commit.
            first = writer.next_seq
            event.listen(session, "before_commit", lambda _s: _flush(writer, first), once=True)
        return writer

    def append(
        self,
        session: Session,
        kind: str,
        actor: str,
        *,
        patient_id: str | None = None,
        named: bool = True,
        named_as: str | None = None,
        **fields: Any,
    ) -> int:
        """Appends one entry and returns its sequence number (final once the caller commits)."""
        return self.append_entry(session, kind, actor, patient_id=patient_id, named=named, named_as=named_as,
                                 **fields).seq

    def append_entry(
        self,
        session: Session,
        kind: str,
        actor: str,
        *,
        patient_id: str | None = None,
        named: bool = True,
        named_as: str | None = None,
        **fields: Any,
    ) -> Appended:
        """Like ``append``, but returns the appended entry with its exact canonical bytes.

        An entry about `patient_id` is listed in that patient's history (the service's index,
        `LedgerSubject`, keyed by the ledger pseudonym) whatever the entry itself says. The entry
        names the patient by the ledger pseudonym; by `named_as` instead (a pseudonym scoped to
        the institution the entry is returned to, docs/ledger.md); or, with `named=False`, not
        at all."""
        entry: dict[str, Any] = {"kind": kind, "time": now_rfc3339(), "actor": self.actor(session, actor)}
        pseudonym = self.pseudonym(session, patient_id) if patient_id else None
        if pseudonym and named:
            entry["patient"] = named_as or pseudonym
        entry.update({k: v for k, v in fields.items() if v is not None})
        appended = self.writer(session).append(entry)
        if pseudonym:
            session.add(LedgerSubject(pseudonym=pseudonym, seq=appended.seq, kind=kind))
        return appended

    @staticmethod
    def wrote(session: Session) -> bool:
        """Whether the transaction appended to the ledger (took its writer)."""
        return _WRITER in session.info

    def redact(self, session: Session, seqs: list[int], reason: str, actor: str) -> int | None:
        """Tombstones the entries at `seqs` (in batches the ledger allows) and ledgers each batch
        as a `ledger.redacted` entry with the reason code; drops them from every patient's index.
        Returns the seq of the last redaction entry, or None when nothing was left to redact."""
        last = None
        for start in range(0, len(seqs), MAX_REDACTED_PER_ENTRY):
            batch = seqs[start:start + MAX_REDACTED_PER_ENTRY]
            done = self.writer(session).redact(batch, {
                "time": now_rfc3339(), "actor": self.actor(session, actor), "reason": reason})
            if done is not None:
                last = done.seq
            session.execute(delete(LedgerSubject).where(LedgerSubject.seq.in_(batch)))
        return last
