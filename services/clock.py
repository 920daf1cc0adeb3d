"""Time as the service writes it: epoch nanoseconds inside, RFC 3339 UTC outside."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def now_rfc3339() -> str:
    return rfc3339(time.time_ns())


def rfc3339(ns: int) -> str:
    """Epoch nanoseconds as an RFC 3339 instant in UTC, exactly: fraction digits only as needed."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    d = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}{fraction}Z"
