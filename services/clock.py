"""The service's one clock: epoch nanoseconds inside, RFC 3339 UTC outside.

Everything the server decides or records by time (a consent's lapse, a token's freshness, a
ledger entry's time, a share header's time) reads it here, so the source is changed in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_source: Callable[[], int] = time.time_ns


def set_source(source: Callable[[], int]) -> Callable[[], int]:
    """Makes `source` (returning epoch nanoseconds) the service's clock; returns the previous one."""
    global _source
    previous, _source = _source, source
    return previous


def now_ns() -> int:
    return _source()


def now_s() -> float:
    return now_ns() / 1_000_000_000


def now_utc() -> datetime:
    """Now as a timezone-aware UTC datetime (microsecond precision, as datetime allows)."""
    return _EPOCH + timedelta(microseconds=now_ns() // 1000)


def now_rfc3339() -> str:
    return rfc3339(now_ns())


def rfc3339(ns: int) -> str:
    """Epoch nanoseconds as an RFC 3339 instant in UTC, exactly: fraction digits only as needed."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    d = _EPOCH + timedelta(seconds=seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}{fraction}Z"
