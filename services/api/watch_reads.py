"""What one watch reads from the database each time the ledger grew (api/watch.py), after the
last seq it sent, so that nothing is sent twice and nothing is skipped, however late it looks.

A patient's watch reads their history entries (through their ledger pseudonym, as
GetAccessHistory does) and the notices queued for them since it opened. Notices carry no seq:
they are found by their creation time, looking back NOTICE_LOOKBACK_NS for a transaction that
took a while to commit, and by id not yet sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.api.app import App
from consentry.services.domain import access_history, consent_feed, metadata_reads, notices
from consentry.services.identity.acting_for import READ_HISTORY, acting_for
from consentry.services.identity.auth import require_current_key
from consentry.services.identity.principals import Principal
from consentry.services.store.models import PatientNotice
from consentry.v1 import consent_pb2 as pb

ACCESS_WATCH = "access-watch"
CHANGES_WATCH = "consent-changes-watch"
READ_BATCH = 500
NOTICE_LOOKBACK_NS = 60 * 1_000_000_000


@dataclass
class AccessReads:
    app: App
    reader: Principal
    patient_id: str
    pseudonym: str
    after: int
    notices_from: int
    sent_notices: dict[str, int] = field(default_factory=dict)  # notice id -> created_ns

    @classmethod
    def start(cls, app: App, reader: Principal, patient_id: str,
              after_seq: int) -> tuple[AccessReads, list[pb.AccessEvent]]:
        """Checks the reader may read the patient's history, and ledgers the watch's one read:
        with `after_seq`, of the events after it (returned to be sent first)."""
        with app.db.write() as s:
            acting_for(s, patient_id, READ_HISTORY)
            pseudonym = app.trail.pseudonym(s, patient_id)
            now = clock.now_ns()
            reads = cls(app, reader, patient_id, pseudonym, after_seq, now - NOTICE_LOOKBACK_NS)
            replay = reads._events(s) if after_seq > 0 else []
            seq = metadata_reads.ledger_read(s, app.trail, reader, ACCESS_WATCH, patient_id, len(replay))
            if after_seq == 0:
                reads.after = seq  # only what commits after this read
            reads.sent_notices = {r.notice_id: r.created_ns for r in reads._notice_rows(s)}
        return reads, replay

    def next_items(self) -> list[pb.AccessEvent | pb.PatientNotice]:
        """What committed since the last read; PERMISSION_DENIED (ending the watch) once the
        reader may no longer read the patient's history (a proxy removed or its scope gone), and
        UNAUTHENTICATED once the key that opened the watch is no longer current."""
        with self.app.db.read() as s:
            require_current_key(s, self.reader)
            acting_for(s, self.patient_id, READ_HISTORY)
            events: list[pb.AccessEvent | pb.PatientNotice] = list(self._events(s))
            for row in self._notice_rows(s):
                if row.notice_id not in self.sent_notices:
                    self.sent_notices[row.notice_id] = row.created_ns
                    events.append(notices.notice_pb(row))
        self._forget_old_notices()
        return events

    def _events(self, s: Session) -> list[pb.AccessEvent]:
        found: list[pb.AccessEvent] = []
        while True:
            seqs = access_history.history_seqs(s, self.pseudonym, self.after, READ_BATCH)
            if not seqs:
                return found
            found += access_history.access_events(s, seqs, with_delivery=False)
            self.after = seqs[-1]

    def _notice_rows(self, s: Session) -> list[PatientNotice]:
        return list(s.scalars(select(PatientNotice).where(
            PatientNotice.patient_id == self.patient_id, PatientNotice.created_ns >= self.notices_from,
        ).order_by(PatientNotice.created_ns, PatientNotice.notice_id)))

    def _forget_old_notices(self) -> None:
        """Moves the look-back window on, so each read stays small on a long watch."""
        if not self.sent_notices:
            return
        self.notices_from = max(self.notices_from, max(self.sent_notices.values()) - NOTICE_LOOKBACK_NS)
        self.sent_notices = {k: v for k, v in self.sent_notices.items() if v >= self.notices_from}


@dataclass
class ChangeReads:
    app: App
    reader: Principal
    institution_id: str
    after: int

    @classmethod
    def start(cls, app: App, reader: Principal, after_seq: int) -> tuple[ChangeReads, list[pb.ConsentChange]]:
        """Ledgers the watch's one read, naming no patient but listed in the history of each
        patient a replayed change (after `after_seq`, returned to be sent first) is about."""
        with app.db.write() as s:
            reads = cls(app, reader, reader.name, after_seq)
            replay = reads._changes(s) if after_seq > 0 else []
            seq = metadata_reads.ledger_read_many(s, app.trail, reader, CHANGES_WATCH, [c.patient_id for c in replay])
            if after_seq == 0:
                reads.after = seq  # only what commits after this read
        return reads, replay

    def next_items(self) -> list[pb.ConsentChange]:
        """What committed since the last read; UNAUTHENTICATED once the key that opened the
        watch is no longer current."""
        with self.app.db.read() as s:
            require_current_key(s, self.reader)
            return self._changes(s)

    def _changes(self, s: Session) -> list[pb.ConsentChange]:
        found: list[pb.ConsentChange] = []
        while True:
            changes, last = consent_feed.changes_after(s, self.institution_id, self.after)
            if last == self.after:
                return found
            found += changes
            self.after = last
