"""A live stream the SDK hands out (WatchAccess, WatchConsentChanges; docs/watch.md): iterate
it for the server's responses, heartbeats included, and `cancel()` it from any thread to end
it, after which iteration simply stops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import grpc

Response = TypeVar("Response")


class Watch(Generic[Response]):
    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = False

    def __iter__(self) -> Iterator[Response]:
        return self

    def __next__(self) -> Response:
        try:
            return next(self._call)
        except grpc.RpcError as error:
            if self._cancelled and error.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise

    def cancel(self) -> None:
        """Ends the stream; the server frees its watch at once."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> Watch[Response]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
