"""Reading the ledger: size, roots, entries, proofs and stored checkpoints.

Proofs are built from stored complete subtrees, so each costs O(log n)
primary-key reads, fetched in one statement (see ``sql.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from ..errors import ProofError, StoreError
from ..merkle import (
    Frontier,
    NodeId,
    consistency_proof,
    inclusion_proof,
    perfect_subtrees,
    root_from_source,
)
from .head import Head, empty_head, read_head
from .sql import SQLITE_BATCH, node_batches, nodes_statement
from .tables import ledger_checkpoints, ledger_entries


class StoredEntry(NamedTuple):
    """One stored entry: its exact bytes and the hashes computed from them at append."""

    seq: int
    entry: bytes
    leaf_hash: bytes
    chain_hash: bytes


class StoredCheckpoint(NamedTuple):
    """A signed checkpoint as stored: ``note`` is the signed note text."""

    size: int
    root: bytes
    note: str
    time: datetime


class LedgerReader:
    """Read-only access: size, roots, entries, proofs, checkpoints."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def head(self) -> Head:
        head = read_head(self.connection, lock=False)
        return head if head is not None else empty_head()

    def size(self) -> int:
        return self.head().size

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """NodeSource: hashes of complete subtrees, in one SQL statement."""
        return self._fetch(ids, None)

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root at ``size`` (default: now), from O(log n) stored nodes."""
        if size is None:
            return self.head().frontier.root()
        if size < 0:
            raise StoreError(f"size {size} is outside the ledger")
        # One statement: the subtrees covering [0, size) and the size check.
        source = _ProofSource(self, size, checked=False, frontier=None)
        root = root_from_source(size, source)
        source.check()  # size 0 read nothing
        return root

    def entries(self, start: int = 0, limit: int = 1000) -> list[StoredEntry]:
        """Up to ``limit`` entries from ``start`` on, in seq order."""
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.seq >= start)
            .order_by(ledger_entries.c.seq)
            .limit(limit)
        )
        return [StoredEntry(*row) for row in self.connection.execute(query)]

    def entries_at(self, seqs: Iterable[int]) -> list[StoredEntry]:
        """The entries at ``seqs``, in seq order; a seq the ledger does not hold is left out."""
        wanted = sorted(set(seqs))
        step = SQLITE_BATCH if self.connection.dialect.name == "sqlite" else max(len(wanted), 1)
        found: list[StoredEntry] = []
        for i in range(0, len(wanted), step):
            query = (
                select(ledger_entries)
                .where(ledger_entries.c.seq.in_(wanted[i : i + step]))
                .order_by(ledger_entries.c.seq)
            )
            found += [StoredEntry(*row) for row in self.connection.execute(query)]
        return found

    def export(self, start: int = 0, stop: int | None = None, chunk: int = 10_000) -> Iterator[bytes]:
        """Entry bytes in seq order, for JSON Lines export (add b"\\n" per line)."""
        stop = self.size() if stop is None else stop
        seq = start
        while seq < stop:
            rows = self.entries(seq, min(chunk, stop - seq))
            if not rows:
                return
            for row in rows:
                yield row.entry
            seq = rows[-1].seq + 1

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]); default size: the current one."""
        source = self._proof_source(size)
        try:
            return inclusion_proof(index, source.size, source)
        except ProofError:
            source.check()  # a size beyond the ledger is reported first, as a StoreError
            raise

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[new_size]); default new size: the current one."""
        source = self._proof_source(new_size)
        try:
            proof = consistency_proof(old_size, source.size, source)
        finally:
            # An empty proof (or a refused one) read nothing: check the size
            # now; a size beyond the ledger is reported first, as a StoreError.
            source.check()
        return proof

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        """The stored checkpoint of exactly ``size`` entries, if one was cut."""
        row = self.connection.execute(
            select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
        ).first()
        return _stored_checkpoint(row)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.connection.execute(
            select(ledger_checkpoints).order_by(ledger_checkpoints.c.size.desc()).limit(1)
        ).first()
        return _stored_checkpoint(row)

    def _check_size(self, size: int) -> None:
        current = self.size()
        if not 0 <= size <= current:
            raise StoreError(f"size {size} is outside the ledger's current size {current}")

    def _proof_source(self, size: int | None) -> _ProofSource:
        if size is None:
            # Read the head: the proof's left and right ranges are subtrees of
            # its frontier, so only the siblings below the fork need a read.
            head = self.head()
            return _ProofSource(self, head.size, checked=True, frontier=head.frontier)
        if size < 0:
            raise StoreError(f"size {size} is outside the ledger")
        return _ProofSource(self, size, checked=False, frontier=None)

    def _fetch(self, ids: Sequence[NodeId], size: int | None) -> list[bytes]:
        """Hashes of ``ids``; with ``size``, also check the ledger has that size.

        Both happen in *one* statement: a proof is one round trip.
        """
        if size is not None and size < 0:
            raise StoreError(f"size {size} is outside the ledger's current size")
        if not ids and size is None:
            return []
        dialect = self.connection.dialect.name
        found: dict[NodeId, bytes] = {}
        current = None
        for batch in node_batches(dialect, ids):
            statement, params = nodes_statement(dialect, batch, size is not None)
            for level, index, value in self.connection.execute(statement, params):
                if level < 0:
                    current = index
                else:
                    found[(level, index)] = value
            if size is not None:
                current = 0 if current is None else current  # no head row: empty ledger
                if size > current:
                    raise StoreError(f"size {size} is outside the ledger's current size {current}")
                size = None  # checked once
        try:
            return [found[node] for node in ids]
        except KeyError as exc:
            raise StoreError(f"stored subtree {exc.args[0]} is missing") from exc


class _ProofSource:
    """NodeSource for one proof at ``size``.

    Unless ``size`` came from the head just read (``checked``), the first
    fetch also checks ``size <= current size`` in the same statement.  Nodes
    of a given ``frontier`` (the perfect subtrees covering [0, head size),
    complete and therefore immutable) are served without a read.
    """

    __slots__ = ("checked", "known", "reader", "size")

    def __init__(
        self, reader: LedgerReader, size: int, checked: bool, frontier: Frontier | None
    ) -> None:
        self.reader = reader
        self.size = size
        self.checked = checked
        self.known: dict[NodeId, bytes] = {}
        if frontier is not None:
            self.known = dict(zip(perfect_subtrees(0, frontier.size), frontier.hashes, strict=True))

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        known = self.known
        missing = [node for node in ids if node not in known]
        if missing or not self.checked:
            fetched = self.reader._fetch(missing, None if self.checked else self.size)
            self.checked = True
            if not known:
                return fetched
            known = {**known, **dict(zip(missing, fetched, strict=True))}
        return [known[node] for node in ids]

    def check(self) -> None:
        if not self.checked:
            self.reader._check_size(self.size)
            self.checked = True


def _stored_checkpoint(row: Any) -> StoredCheckpoint | None:
    if row is None:
        return None
    time = row.time
    if time.tzinfo is None:  # SQLite keeps no zone; we always store UTC
        time = time.replace(tzinfo=UTC)
    return StoredCheckpoint(row.size, row.root, row.note, time)
