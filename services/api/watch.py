"""The live streams (docs/watch.md): WatchAccess for a patient and WatchConsentChanges for an
institution.

A watch holds one of the server's worker threads for as long as it is open, so watches are
capped per principal and in all. Each one waits on the commit feed (api/commit_feed.py), and
whenever the ledger grew it reads from the database what concerns it after the last seq it
sent: the patient's history entries through their pseudonym, the institution's changes through
the entries' grantee and the requests' requester. What it sends has therefore committed.

Opening a watch is one read, ledgered once (a `metadata.read` entry, read `access-watch` naming
the patient, or `consent-changes-watch` naming no one and listed in the history of each patient
a replayed change is about, with the count replayed), as GetAccessHistory is per page; what is
pushed afterwards is not ledgered one by one: the watch that receives it is.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from consentry.services import clock
from consentry.services.api.app import App
from consentry.services.api.commit_feed import CommitFeed
from consentry.services.api.watch_reads import AccessReads, ChangeReads
from consentry.services.domain.consent_requests import validate_watch_access
from consentry.services.errors import ResourceExhausted, Unavailable
from consentry.services.identity.principals import current_principal
from consentry.v1 import consent_pb2 as pb

Found = TypeVar("Found")
Response = TypeVar("Response")
RETRY_AFTER_S = 5.0


class Watches:
    """Counts the open watches, per principal and in all, and refuses one beyond either cap."""

    def __init__(self, per_principal: int, total: int) -> None:
        self.per_principal, self.total = per_principal, total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def open(self, principal_id: str) -> Iterator[None]:
        with self._lock:
            if self._open[principal_id] >= self.per_principal:
                raise ResourceExhausted(f"at most {self.per_principal} watches may be open at once per caller; "
                                        "close one first", RETRY_AFTER_S)
            if sum(self._open.values()) >= self.total:
                raise ResourceExhausted("the server has as many watches open as it serves; retry later",
                                        RETRY_AFTER_S)
            self._open[principal_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[principal_id] -= 1
                if not self._open[principal_id]:
                    del self._open[principal_id]


class Watching:
    """The two streams, served from one commit feed."""

    def __init__(self, app: App, feed: CommitFeed, watches: Watches) -> None:
        self.app, self.feed, self.watches = app, feed, watches
        self.heartbeat_s = app.settings.watch_heartbeat_s

    def access(self, request: pb.WatchAccessRequest, context: grpc.ServicerContext) -> Iterator[pb.WatchAccessResponse]:
        validate_watch_access(request)
        principal = current_principal()
        with self.watches.open(principal.id):
            reads, replay = AccessReads.start(self.app, principal, request.patient_id, request.after_seq)
            yield from (_access_response(item) for item in replay)
            yield from self._live(context, reads.next_items, _access_response, _access_heartbeat)

    def consent_changes(self, request: pb.WatchConsentChangesRequest,
                        context: grpc.ServicerContext) -> Iterator[pb.WatchConsentChangesResponse]:
        principal = current_principal()
        principal.require("org")
        with self.watches.open(principal.id):
            reads, replay = ChangeReads.start(self.app, principal, request.after_seq)
            yield from (_change_response(change) for change in replay)
            yield from self._live(context, reads.next_items, _change_response, _change_heartbeat)

    def _live(self, context: grpc.ServicerContext, read: Callable[[], Sequence[Found]],
              respond: Callable[[Found], Response], heartbeat: Callable[[Timestamp], Response]) -> Iterator[Response]:
        """Sends what `read` finds each time the ledger grew, and a heartbeat when nothing was
        sent for `heartbeat_s`; ends when the call is cancelled, or UNAVAILABLE when the server
        stops (docs/operations.md, "Drain")."""
        context.add_callback(self.feed.nudge)
        yield heartbeat(_now())  # the watch is open: what commits now is sent
        last_sent = time.monotonic()
        while context.is_active() and not self.feed.stopped:
            known = self.feed.size()
            for item in read():
                yield respond(item)
                last_sent = time.monotonic()
            quiet = time.monotonic() - last_sent
            if quiet >= self.heartbeat_s:
                yield heartbeat(_now())
                last_sent, quiet = time.monotonic(), 0.0
            self.feed.wait_past(known, self.heartbeat_s - quiet)
        if self.feed.stopped:  # the server drains: the client reconnects, to another server if any
            raise Unavailable("the server is shutting down: reconnect (to another server) with after_seq "
                              "the last seq received")


def _access_response(item: pb.AccessEvent | pb.PatientNotice) -> pb.WatchAccessResponse:
    if isinstance(item, pb.AccessEvent):
        return pb.WatchAccessResponse(access=item)
    return pb.WatchAccessResponse(notice=item)


def _access_heartbeat(when: Timestamp) -> pb.WatchAccessResponse:
    return pb.WatchAccessResponse(heartbeat=when)


def _change_response(change: pb.ConsentChange) -> pb.WatchConsentChangesResponse:
    return pb.WatchConsentChangesResponse(change=change)


def _change_heartbeat(when: Timestamp) -> pb.WatchConsentChangesResponse:
    return pb.WatchConsentChangesResponse(heartbeat=when)


def _now() -> Timestamp:
    when = Timestamp()
    when.FromNanoseconds(clock.now_ns())
    return when
