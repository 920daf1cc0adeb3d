"""Appending entries, inside the caller's transaction.

An entry commits atomically with the state change it records, and if
anything fails the whole transaction rolls back (fail closed).  Locking the
head row serializes appenders (see ``head.py``); every perfect subtree is
stored in ``ledger_nodes`` as it completes, so the root at any size and
every proof cost O(log n) reads.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, event, insert, update

from ..canonical import canonical_json
from ..errors import EntryError, StoreError
from ..hashing import chain_hash, leaf_hash
from .head import Head, lock_head
from .tables import HEAD_ID, ledger_entries, ledger_head, ledger_nodes

# The most one entry may weigh, as canonical JSON with ``seq`` and ``prev``.  An entry lives
# for ever and every export, page and verifier reads it, so no one append may grow it without
# bound; the service's largest entries (a refusal with its capped violations) stay far below.
MAX_ENTRY_BYTES = 16 * 1024


class Appended(NamedTuple):
    """What one append produced (``entry_bytes`` is exactly what was hashed)."""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    entry_bytes: bytes


class LedgerWriter:
    """Appends entries inside the caller's transaction.

    Use as ``with LedgerWriter.lock(conn) as writer: writer.append({...})``;
    leaving the block normally flushes, an exception discards the buffer
    (and should roll the caller's transaction back).
    """

    def __init__(self, connection: Connection, head: Head) -> None:
        self.connection = connection
        self._chain = head.chain_hash
        self._frontier = head.frontier
        self._pending: list[dict[str, Any]] = []
        self._nodes: list[dict[str, Any]] = []
        self._stale = False  # set when a savepoint rolls back under this writer

    @classmethod
    def lock(cls, connection: Connection) -> LedgerWriter:
        """Lock the head row for this transaction and return a writer."""
        if not connection.in_transaction():
            raise StoreError("LedgerWriter.lock needs a connection inside a transaction")
        previous = _writers.get(connection)
        if previous is not None and previous._pending:
            # A second writer would re-read the stale head and reuse seqs.
            raise EntryError("flush the transaction's first LedgerWriter before locking again")
        head = lock_head(connection)
        _guard(connection.engine)
        writer = cls(connection, head)
        _writers[connection] = writer
        return writer

    @property
    def next_seq(self) -> int:
        """The sequence number the next append will get."""
        return self._frontier.size

    @property
    def chain_hash(self) -> bytes:
        """The chain hash after the last append (``prev`` of the next entry)."""
        return self._chain

    def append(self, entry: Mapping[str, object]) -> Appended:
        """Add ``seq`` and ``prev`` to ``entry``, canonicalize, hash and buffer it.

        Raises EntryError, appending nothing, for an entry over MAX_ENTRY_BYTES."""
        if not isinstance(entry, Mapping):
            raise EntryError("a ledger entry is a mapping of str keys")
        self._check_fresh()
        if "seq" in entry or "prev" in entry:
            raise EntryError("'seq' and 'prev' are set by the ledger, not the caller")
        seq = self._frontier.size
        data = canonical_json({**entry, "seq": seq, "prev": self._chain.hex()})
        # The offline verifier finds seq/prev with a byte search, so these
        # key patterns must occur exactly once: at the top level.
        if data.count(b'"seq":') != 1 or data.count(b'"prev":') != 1:
            raise EntryError("entries may not contain nested 'seq' or 'prev' keys")
        if len(data) > MAX_ENTRY_BYTES:
            raise EntryError(f"an entry may be at most {MAX_ENTRY_BYTES} bytes of canonical JSON")
        leaf = leaf_hash(data)
        chain = chain_hash(self._chain, leaf)
        for level, index, h in self._frontier.append(leaf):
            self._nodes.append({"level": level, "idx": index, "hash": h})
        self._chain = chain
        self._pending.append({"seq": seq, "entry": data, "leaf_hash": leaf, "chain_hash": chain})
        return Appended(seq, leaf, chain, data)

    def flush(self) -> None:
        """Write buffered entries, completed subtrees and the new head."""
        self._check_fresh()
        if not self._pending:
            return
        conn = self.connection
        conn.execute(insert(ledger_entries), self._pending)
        if self._nodes:
            conn.execute(insert(ledger_nodes), self._nodes)
        conn.execute(
            update(ledger_head)
            .where(ledger_head.c.id == HEAD_ID)
            .values(
                size=self._frontier.size,
                chain_hash=self._chain,
                frontier=self._frontier.to_bytes(),
            )
        )
        self._pending.clear()
        self._nodes.clear()

    def _check_fresh(self) -> None:
        if self._stale:
            raise EntryError(
                "a savepoint rolled back under this LedgerWriter; lock a new one to continue"
            )

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        else:
            # The caller's transaction must roll back; never write half a batch.
            self._pending.clear()
            self._nodes.clear()


# ---------------------------------------------------------------- commit guard
#
# Entries are buffered and written by flush().  So that a forgotten flush can
# never commit a state change without its ledger entry, each engine gets one
# "commit" listener that refuses to commit a connection whose writer still
# holds unflushed entries (the caller's transaction then rolls back).

_writers: weakref.WeakKeyDictionary[Connection, LedgerWriter] = weakref.WeakKeyDictionary()
_guarded_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _guard(engine: Engine) -> None:
    if engine not in _guarded_engines:
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
        _guarded_engines.add(engine)


def _on_commit(connection: Connection) -> None:
    writer = _writers.pop(connection, None)
    if writer is not None and writer._pending:
        writer._pending.clear()
        raise EntryError(
            "the transaction was committed with unflushed ledger entries; "
            "use `with LedgerWriter.lock(conn) as w:` or call flush()"
        )


def _on_rollback(connection: Connection) -> None:
    _writers.pop(connection, None)


def _on_rollback_savepoint(connection: Connection, _name: object, _context: object) -> None:
    # The database lost what the writer flushed inside the savepoint, but
    # the writer's in-memory head did not: it must not append again.
    writer = _writers.get(connection)
    if writer is not None:
        writer._stale = True
