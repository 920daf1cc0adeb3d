"""Draining on stop (docs/operations.md, "Drain"): the server says NOT_SERVING, refuses new calls
with UNAVAILABLE (the client retries on another server), lets the calls under way finish for up
to the grace, then cancels what is left. Health and reflection calls are still answered during
the drain, so a load balancer sees NOT_SERVING rather than a closed port.

`Drain` counts the calls of our services under way (the guard wraps each one with `unary` or
`stream`) and logs the drain's start and end: how many calls were under way, how many were cut.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import Message

log = logging.getLogger("consentry.drain")

REFUSED = "the server is shutting down: retry the call on another server"


class Drain:
    """The calls under way, and whether new ones are still taken."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self.draining = False

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def unary(self, call: Callable[[Any, grpc.ServicerContext], Message]
              ) -> Callable[[Any, grpc.ServicerContext], Message]:
        def counted(request: Any, context: grpc.ServicerContext) -> Message:
            self._enter(context)
            try:
                return call(request, context)
            finally:
                self._leave()

        return counted

    def stream(self, call: Callable[[Any, grpc.ServicerContext], Iterator[Message]]
               ) -> Callable[[Any, grpc.ServicerContext], Iterator[Message]]:
        def counted(request: Any, context: grpc.ServicerContext) -> Iterator[Message]:
            self._enter(context)
            try:
                yield from call(request, context)
            finally:
                self._leave()

        return counted

    def _enter(self, context: grpc.ServicerContext) -> None:
        with self._changed:
            if not self.draining:
                self._in_flight += 1
                return
        context.abort(grpc.StatusCode.UNAVAILABLE, REFUSED)

    def _leave(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def begin(self, grace: float) -> int:
        """Takes no new call from now on; the number of calls under way, logged."""
        with self._changed:
            self.draining = True
            under_way = self._in_flight
        log.info("drain started", extra={"call": {"in_flight": under_way, "grace_s": grace}})
        return under_way

    def wait(self, grace: float) -> int:
        """Waits up to `grace` seconds for the calls under way to end; the number still under
        way then (the caller cancels them)."""
        deadline = time.monotonic() + grace
        with self._changed:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return self._in_flight

    def end(self, under_way: int, cut: int, started: float) -> None:
        log.log(logging.WARNING if cut else logging.INFO, "drain ended",
                extra={"call": {"in_flight": under_way, "finished": under_way - cut, "cut": cut,
                                "duration_ms": round((time.monotonic() - started) * 1000, 3)}})
