"""The demo's live feed: the patient's phone follows the WatchAccess stream (docs/watch.md) while
the story runs, so each decision about their records shows up as its ledger entry commits,
without the patient asking for their history."""

from __future__ import annotations

import queue
import threading
import time

import grpc

from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2


class LiveFeed:
    """The patient's watch, read on a thread of its own; `take` waits for what has arrived."""

    def __init__(self, patient: Client, patient_id: str) -> None:
        self._watch = patient.watch_access(patient_id)
        self._arrived: queue.Queue[consent_pb2.AccessEvent | consent_pb2.PatientNotice] = queue.Queue()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, name="demo-live-feed", daemon=True)
        self._thread.start()
        # A watch answers with a heartbeat once it is open: what commits after that is sent.
        self._opened.wait(timeout=10)

    def _read(self) -> None:
        try:
            for response in self._watch:
                self._opened.set()
                kind = response.WhichOneof("event")
                if kind in ("access", "notice"):
                    self._arrived.put(getattr(response, kind))
        except grpc.RpcError:
            pass  # the story checks what arrived; a broken stream shows as events missing
        finally:
            self._opened.set()

    def take(self, count: int, timeout_s: float = 10.0) -> list[consent_pb2.AccessEvent | consent_pb2.PatientNotice]:
        """Up to `count` arrivals, waiting at most `timeout_s` in all."""
        got: list[consent_pb2.AccessEvent | consent_pb2.PatientNotice] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count:
            try:
                got.append(self._arrived.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self._watch.cancel()
        self._thread.join(timeout=5)
