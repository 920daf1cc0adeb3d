"""The share ids a client has received, so that a package delivered twice is refused the second time.

A package answers one fetch (its signed header carries that fetch's nonce), so a package replayed
into a *later* fetch is already refused by the nonce check. This memory covers the rest: the same
package twice in one response, or a fetch whose nonce was reused. It needs to hold at least the
ids received within the time window (``Client(time_window=...)``): an older package is refused by
its issue time whatever is remembered.

``MemorySeenShares`` (the default, one per ``Client``) forgets when the process ends. To keep the
refusal across restarts or share it between clients of one institution, pass a ``SeenShares`` of
your own, for example over a table with a primary key on ``share_id``::

    class TableSeenShares:
        def first_sight(self, share_id, issued):
            # INSERT INTO seen_shares (share_id, issued) VALUES (?, ?) ON CONFLICT DO NOTHING
            return inserted_rows == 1      # one atomic statement: two racing threads cannot both win

and delete rows whose ``issued`` is older than the time window now and then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

DEFAULT_LIMIT = 100_000


class SeenShares(Protocol):
    def first_sight(self, share_id: str, issued: datetime) -> bool:
        """Records `share_id` (issued at `issued`, from the verified header) and says whether it is
        new. Must be atomic: of two calls with one id, exactly one returns True."""
        ...


class MemorySeenShares:
    """The last `limit` share ids, in memory, thread-safe. When full, the oldest is forgotten:
    ids are 122 random bits, so a forgotten one recurs only in a replay, which the nonce and the
    time window refuse once it is that old (at `limit` packages within the window, raise it)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("a share id memory must hold at least one id")
        self._limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_sight(self, share_id: str, issued: datetime) -> bool:
        with self._lock:
            if share_id in self._ids:
                return False
            self._ids[share_id] = None  # `issued` matters to a store that prunes by time
            if len(self._ids) > self._limit:
                self._ids.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._ids)
