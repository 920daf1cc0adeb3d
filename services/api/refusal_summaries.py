"""Refusals ledgered as counts, not one entry each.

A caller that cannot authenticate proves nothing about itself, and one that is over its rate is
already being told to stop: ledgering each such call would hand anyone a way to grow the ledger,
which never shrinks, as fast as they can send. They are counted instead, and a background flush
appends one entry per window:

  auth.refused        actor "anonymous", `source` (the transport peer, see rate_limits), for
                      unauthenticated calls, never naming whoever the token claimed to be
  call.rate_limited   actor the authenticated principal, for its calls refused over its rate

each with the window's bounds, the `count`, the count per `failures` reason (a fixed vocabulary:
errors.Unauthenticated.REASONS, "rate_limited" and "enrolment_code_refused") and per `methods` (the services' own method
names). A crash loses at most one window of counts; a flush that fails keeps them for the next.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consentry.services import clock
from consentry.services.api.rate_limits import MAX_TRACKED, OTHER_SOURCES
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database

ANONYMOUS = "anonymous"
RATE_LIMITED = "rate_limited"
# A refused RegistryService.RedeemEnrolmentCode (made without a token): never the code.
ENROLMENT_CODE_REFUSED = "enrolment_code_refused"


@dataclass
class Summary:
    """One window's refusals of one kind for one actor (and source)."""

    window: int
    kind: str
    actor: str
    source: str | None
    failures: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)

    def add(self, other: Summary) -> None:
        self.failures.update(other.failures)
        self.methods.update(other.methods)


class RefusalSummaries:
    def __init__(self, window_s: float) -> None:
        self._window_ns = int(window_s * 1_000_000_000)
        self._open: dict[tuple[int, str, str, str | None], Summary] = {}
        self._lock = threading.Lock()

    def unauthenticated(self, source: str, method: str, reason: str) -> None:
        self._count("auth.refused", ANONYMOUS, source, method, reason)

    def over_rate(self, principal: str, method: str) -> None:
        self._count("call.rate_limited", principal, None, method, RATE_LIMITED)

    def flush(self, db: Database, trail: AuditTrail, *, everything: bool = False) -> int:
        """Ledgers the summaries of windows that have ended (all of them, with `everything`, as at
        shutdown) in one transaction; returns how many entries it appended."""
        done = self._take(None if everything else clock.now_ns() // self._window_ns)
        if not done:
            return 0
        try:
            with db.write() as session:
                for summary in done:
                    trail.append(session, summary.kind, summary.actor, source=summary.source,
                                 **self._fields(summary))
        except Exception:
            self._give_back(done)
            raise
        return len(done)

    def _count(self, kind: str, actor: str, source: str | None, method: str, reason: str) -> None:
        window = clock.now_ns() // self._window_ns
        with self._lock:
            key = (window, kind, actor, source)
            if key not in self._open and source is not None and len(self._open) >= MAX_TRACKED:
                key = (window, kind, actor, OTHER_SOURCES)
            summary = self._open.setdefault(key, Summary(*key))
            summary.failures[reason] += 1
            summary.methods[method] += 1

    def _take(self, before_window: int | None) -> list[Summary]:
        with self._lock:
            keys = [k for k in self._open if before_window is None or k[0] < before_window]
            return [self._open.pop(k) for k in sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3] or ""))]

    def _give_back(self, summaries: list[Summary]) -> None:
        with self._lock:
            for summary in summaries:
                key = (summary.window, summary.kind, summary.actor, summary.source)
                self._open.setdefault(key, Summary(*key)).add(summary)

    def _fields(self, summary: Summary) -> dict[str, Any]:
        start = summary.window * self._window_ns
        return {
            "window_start": clock.rfc3339(start), "window_end": clock.rfc3339(start + self._window_ns),
            "count": summary.failures.total(), "failures": dict(sorted(summary.failures.items())),
            "methods": dict(sorted(summary.methods.items())),
        }
