"""Reading a live stream in a test: a thread drains it into a queue, so a test waits for the
next response of a kind with a timeout instead of blocking on the stream."""

from __future__ import annotations

import queue
import threading
import time

import grpc

from consentry.services.sdk.watches import Watch

END = object()


class Reader:
    """Drains `watch` on a thread; `next(kind)` is the next response holding `kind` (others,
    heartbeats mostly, are skipped); `ended()` waits for the stream to end."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.items: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            for item in self.watch:
                self.items.put(item)
        except grpc.RpcError as error:
            self.items.put(error)
        self.items.put(END)

    def next(self, kind: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            item = self.items.get(timeout=max(0.0, deadline - time.monotonic()))
            if item is END:
                raise AssertionError(f"the stream ended before a {kind}")
            if isinstance(item, grpc.RpcError):
                raise item
            if item.WhichOneof("event") == kind:
                return getattr(item, kind)

    def opened(self) -> Reader:
        """Waits for the heartbeat a watch sends once it is open (after any replay)."""
        self.next("heartbeat")
        return self

    def error(self, timeout: float = 10.0) -> grpc.RpcError:
        while True:
            item = self.items.get(timeout=timeout)
            if isinstance(item, grpc.RpcError):
                return item
            assert item is not END, "the stream ended without an error"

    def ended(self, timeout: float = 10.0) -> None:
        while (item := self.items.get(timeout=timeout)) is not END:
            assert not isinstance(item, grpc.RpcError), item

    def quiet(self, kind: str, seconds: float) -> None:
        """Nothing of `kind` arrives within `seconds`."""
        try:
            got = self.next(kind, timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected {kind}: {got}")

    def close(self) -> None:
        self.watch.cancel()
