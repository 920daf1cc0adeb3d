"""Appending entries, inside the caller's transaction.

An entry commits atomically with the state change it records, and if
anything fails the whole transaction rolls back (fail closed).  Locking the
head row serializes appenders (see ``head.py``); every perfect subtree is
stored in ``ledger_nodes`` as it completes, so the root at any size and
every proof cost O(log n) reads.

Every entry is written in format version 2 (salted, its leaf committing to
a hash of it: ``entries.py``), so ``redact`` can later replace its bytes by
a tombstone, in the same transaction as the ``ledger.redacted`` entry that
says why.
"""

from __future__ import annotations

import json
import secrets
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, event, insert, select, update

from ..canonical import canonical_json
from ..entries import (
    REDACTED_KEY,
    REDACTED_KIND,
    SALT_BYTES,
    SALT_KEY,
    commitment,
    committed_leaf,
    is_salted,
    tombstone,
)
from ..errors import EntryError, StoreError
from ..hashing import chain_hash
from .head import Head, lock_head
from .tables import HEAD_ID, ledger_entries, ledger_head, ledger_nodes

# The most one entry may weigh, as canonical JSON with ``seq`` and ``prev``.  An entry lives
# for ever and every export, page and verifier reads it, so no one append may grow it without
# bound; the service's largest entries (a refusal with its capped violations) stay far below.
MAX_ENTRY_BYTES = 16 * 1024

# The most seqs one ledger.redacted entry names, so that it stays far below MAX_ENTRY_BYTES.
MAX_REDACTED_PER_ENTRY = 1000


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
        if "seq" in entry or "prev" in entry or "salt" in entry:
            raise EntryError("'seq', 'prev' and 'salt' are set by the ledger, not the caller")
        seq = self._frontier.size
        salt = secrets.token_bytes(SALT_BYTES).hex()
        data = canonical_json({**entry, "seq": seq, "prev": self._chain.hex(), "salt": salt})
        # The offline verifier finds seq/prev and the format with a byte search, so these key
        # patterns must occur exactly once, at the top level, and a tombstone's never.
        if (data.count(b'"seq":') != 1 or data.count(b'"prev":') != 1 or data.count(SALT_KEY) != 1
                or REDACTED_KEY in data):
            raise EntryError("entries may not contain nested 'seq', 'prev' or 'salt' keys, nor 'redacted'")
        if len(data) > MAX_ENTRY_BYTES:
            raise EntryError(f"an entry may be at most {MAX_ENTRY_BYTES} bytes of canonical JSON")
        leaf = committed_leaf(commitment(data))
        chain = chain_hash(self._chain, leaf)
        for level, index, h in self._frontier.append(leaf):
            self._nodes.append({"level": level, "idx": index, "hash": h})
        self._chain = chain
        self._pending.append({"seq": seq, "entry": data, "leaf_hash": leaf, "chain_hash": chain})
        return Appended(seq, leaf, chain, data)

    def redact(self, seqs: Sequence[int], entry: Mapping[str, object]) -> Appended | None:
        """Replaces the entries at ``seqs`` by their tombstones and appends ``entry`` (its kind
        becomes ``ledger.redacted``, its ``seqs`` the entries actually redacted now).

        Entries already redacted are skipped; None (and nothing appended) if none is left.
        Raises EntryError, changing nothing, for an entry that cannot be redacted: one not yet
        committed, of format version 1, or itself a redaction."""
        self._check_fresh()
        wanted = sorted(set(seqs))
        if len(wanted) > MAX_REDACTED_PER_ENTRY:
            raise EntryError(f"one redaction names at most {MAX_REDACTED_PER_ENTRY} entries")
        if any(s < 0 or s >= self._frontier.size - len(self._pending) for s in wanted):
            raise EntryError("only committed entries can be redacted")
        if "kind" in entry or "seqs" in entry:
            raise EntryError("'kind' and 'seqs' of a redaction are set by the ledger")
        rows = self.connection.execute(
            select(ledger_entries.c.seq, ledger_entries.c.entry, ledger_entries.c.leaf_hash)
            .where(ledger_entries.c.seq.in_(wanted))
        ).all()
        if len(rows) != len(wanted):
            raise StoreError("an entry to redact is missing from the ledger")
        stones = [
            stone
            for row in rows
            if (stone := _tombstone_of(row.seq, bytes(row.entry), bytes(row.leaf_hash))) is not None
        ]
        if not stones:
            return None
        for seq, data in stones:
            self.connection.execute(
                update(ledger_entries).where(ledger_entries.c.seq == seq).values(entry=data)
            )
        return self.append({**entry, "kind": REDACTED_KIND, "seqs": [seq for seq, _ in stones]})

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


def _tombstone_of(seq: int, data: bytes, leaf: bytes) -> tuple[int, bytes] | None:
    """The tombstone replacing a stored entry; None if it already is one."""
    if not is_salted(data):
        if REDACTED_KEY in data:
            return None
        raise EntryError(f"entry {seq} is of format version 1, whose leaf commits to its bytes")
    digest = commitment(data)
    if committed_leaf(digest) != leaf:
        raise StoreError(f"entry {seq} no longer matches its stored leaf")
    obj = json.loads(data)
    if obj.get("kind") == REDACTED_KIND:
        raise EntryError(f"entry {seq} is a redaction, which is never redacted")
    return seq, tombstone(seq, obj["prev"], digest)


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
