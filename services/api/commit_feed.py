"""The commit feed: tells the server's live streams (api/watch.py) that the ledger grew.

It knows one number, the ledger's size as last seen committed, and wakes every waiting watch
when it grows. It learns of growth two ways: in-process, right after a write transaction that
appended to the ledger has committed (a WriteHook, so never before the entry is durable); and
by reading the ledger's head from the database every `poll_s` seconds, so that entries another
server process or replica committed to the same database reach this process's watches too.

The feed carries no entries and decides nothing: each watch reads what concerns it from the
database itself, after the size it was told of, so a watch can never see an entry that has not
committed, and one it missed while busy is still there on its next read. A push sender for
phones would subscribe here the same way (docs/watch.md, "Push to phones").
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session

from consentry.ledger.db import LedgerReader
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database, WriteHook

log = logging.getLogger("consentry.watch")


class CommitFeed:
    def __init__(self, db: Database, poll_s: float) -> None:
        self._db = db
        self._poll_s = poll_s
        self._changed = threading.Condition()
        self._size = 0
        self._stopped = False
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-feed", daemon=True)
        db.on_write(WriteHook(committed=self._committed))

    def start(self) -> None:
        self._size = self._read_size()
        self._thread.start()

    def stop(self) -> None:
        """Wakes every watch to end its stream, and stops reading the ledger."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._kick.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def size(self) -> int:
        """The ledger size last seen committed: every entry below it is readable now."""
        with self._changed:
            return self._size

    def wait_past(self, size: int, timeout: float) -> int:
        """Blocks until the ledger holds more than `size` entries, the feed stops, someone
        calls `nudge` or `timeout` seconds pass; returns the size it knows then."""
        with self._changed:
            if self._size <= size and not self._stopped:
                self._changed.wait(timeout)
            return self._size

    def nudge(self) -> None:
        """Wakes the waiting watches to look at their calls (one was cancelled)."""
        with self._changed:
            self._changed.notify_all()

    def _committed(self, session: Session) -> None:
        if AuditTrail.wrote(session):
            self._kick.set()

    def _run(self) -> None:
        while not self._stopped:
            self._kick.wait(self._poll_s)
            self._kick.clear()
            if self._stopped:
                return
            try:
                size = self._read_size()
            except Exception:  # the database may be briefly away; the next round reads again
                log.exception("could not read the ledger's size")
                continue
            with self._changed:
                if size > self._size:
                    self._size = size
                    self._changed.notify_all()

    def _read_size(self) -> int:
        with self._db.read() as s:
            return LedgerReader(s.connection()).size()
