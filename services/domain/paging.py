"""Pages bounded by bytes as well as by count.

A page of ledger entries or access events holds at most MAX_PAGE_BYTES of them (and always at
least one), so no entry, however large, can push a response past the transport's message limit
(config.py: never under 1 MiB + 64 KiB): a client that follows the page's continuation reads
everything, a page at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

MAX_PAGE_BYTES = 1024 * 1024
# What each item adds on the wire besides its own bytes (field tags, lengths, a sequence number).
_FRAMING_BYTES = 16

T = TypeVar("T")


def within_bytes(items: Sequence[T], size_of: Callable[[T], int]) -> list[T]:
    """The longest prefix of `items` that fits MAX_PAGE_BYTES (the first item always does)."""
    total = 0
    for count, item in enumerate(items):
        total += size_of(item) + _FRAMING_BYTES
        if total > MAX_PAGE_BYTES and count > 0:
            return list(items[:count])
    return list(items)
