"""Database storage of the ledger (SQLAlchemy 2 Core; PostgreSQL and SQLite).

Appends run *inside the caller's transaction*, so an entry commits
atomically with the state change it records, and if anything fails the
whole transaction rolls back (fail closed).  One row, ``ledger_head``,
serializes appenders: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
caller's ``BEGIN IMMEDIATE`` already holds the database write lock.  The head
also stores the right-edge frontier of the tree, so an append reads nothing
else; every perfect subtree is stored in ``ledger_nodes`` as it completes,
so the root at any size and every proof cost O(log n) reads.

Level-0 nodes (leaf hashes) are not duplicated in ``ledger_nodes``; they are
read from ``ledger_entries.leaf_hash``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import (
    and_,
    or_,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    event,
    insert,
    literal,
    select,
    union_all,
    update,
)

from .canonical import canonical_json
from .checkpoint import CheckpointPolicy, NoteSigner, sign_checkpoint
from .errors import EntryError, StoreError
from .hashing import ZERO_HASH, chain_hash, leaf_hash
from .merkle import (
    Frontier,
    NodeId,
    consistency_proof,
    inclusion_proof,
    root_from_source,
)

metadata = MetaData()

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),  # RFC 8785 bytes, hashed as is
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
)

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),  # >= 1
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
    # Concatenated 32-byte roots of the perfect subtrees covering [0, size),
    # largest first: popcount(size) hashes.
    Column("frontier", LargeBinary, nullable=False),
    CheckConstraint("id = 1", name="ledger_head_single_row"),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
)

# The ledger's own tables.  The service puts its tables on the same
# ``metadata`` (one migration history), so code that creates only the ledger
# (tests, benchmarks) passes ``tables=LEDGER_TABLES`` to ``create_all``.
LEDGER_TABLES = (ledger_entries, ledger_nodes, ledger_head, ledger_checkpoints)

_HEAD_ID = 1


class Appended(NamedTuple):
    """What one append produced (``entry_bytes`` is exactly what was hashed)."""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    entry_bytes: bytes


class StoredEntry(NamedTuple):
    seq: int
    entry: bytes
    leaf_hash: bytes
    chain_hash: bytes


class StoredCheckpoint(NamedTuple):
    size: int
    root: bytes
    note: str
    time: datetime


class Head(NamedTuple):
    size: int
    chain_hash: bytes
    frontier: Frontier


def _insert_ignoring_conflicts(connection: Connection, table: Table, values: dict) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, for idempotent one-off rows."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise StoreError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")
    connection.execute(dialect_insert(table).values(**values).on_conflict_do_nothing())


def _read_head(connection: Connection, for_update: bool) -> Head | None:
    query = select(ledger_head.c.size, ledger_head.c.chain_hash, ledger_head.c.frontier).where(
        ledger_head.c.id == _HEAD_ID
    )
    if for_update:
        query = query.with_for_update()  # compiled away on SQLite
    row = connection.execute(query).first()
    if row is None:
        return None
    try:
        frontier = Frontier.from_bytes(row.size, row.frontier)
    except Exception as exc:
        raise StoreError("the ledger head row is corrupt (frontier does not match size)") from exc
    return Head(row.size, row.chain_hash, frontier)


# ---------------------------------------------------------------- commit guard
#
# Entries are buffered and written by flush().  So that a forgotten flush can
# never commit a state change without its ledger entry, each engine gets one
# "commit" listener that refuses to commit a connection whose writer still
# holds unflushed entries (the caller's transaction then rolls back).

_writers: weakref.WeakKeyDictionary[Connection, LedgerWriter] = weakref.WeakKeyDictionary()
_guarded_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


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


def _on_rollback_savepoint(connection: Connection, _name, _context) -> None:
    # The database lost what the writer flushed inside the savepoint, but
    # the writer's in-memory head did not: it must not append again.
    writer = _writers.get(connection)
    if writer is not None:
        writer._stale = True


def _guard(connection: Connection) -> None:
    engine = connection.engine
    if engine not in _guarded_engines:
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
        _guarded_engines.add(engine)


# ---------------------------------------------------------------- writer


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
        self._pending: list[dict] = []
        self._nodes: list[dict] = []
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
        head = _read_head(connection, for_update=True)
        if head is None:  # first append ever: create the head row once
            _insert_ignoring_conflicts(
                connection,
                ledger_head,
                {"id": _HEAD_ID, "size": 0, "chain_hash": ZERO_HASH, "frontier": b""},
            )
            head = _read_head(connection, for_update=True)
        _guard(connection)
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
        """Add ``seq`` and ``prev`` to ``entry``, canonicalize, hash and buffer it."""
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
            .where(ledger_head.c.id == _HEAD_ID)
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

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        else:
            # The caller's transaction must roll back; never write half a batch.
            self._pending.clear()
            self._nodes.clear()


# ---------------------------------------------------------------- reader


class LedgerReader:
    """Read-only access: size, roots, entries, proofs, checkpoints."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def head(self) -> Head:
        head = _read_head(self.connection, for_update=False)
        return head if head is not None else Head(0, ZERO_HASH, Frontier())

    def size(self) -> int:
        return self.head().size

    def _check_size(self, size: int) -> None:
        current = self.size()
        if not 0 <= size <= current:
            raise StoreError(f"size {size} is outside the ledger's current size {current}")

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """NodeSource: hashes of complete subtrees, in one SQL statement."""
        leaves = [index for level, index in ids if level == 0]
        inner = [(level, index) for level, index in ids if level > 0]
        parts = []
        if leaves:
            parts.append(
                select(literal(0).label("level"), ledger_entries.c.seq.label("idx"),
                       ledger_entries.c.leaf_hash.label("hash"))
                .where(ledger_entries.c.seq.in_(leaves))
            )
        if inner:
            # OR of (level, idx) pairs rather than a row-value IN: SQLite
            # answers the IN with a full scan, the OR with one PK probe each.
            parts.append(
                select(ledger_nodes.c.level, ledger_nodes.c.idx, ledger_nodes.c.hash).where(
                    or_(*(and_(ledger_nodes.c.level == lv, ledger_nodes.c.idx == ix)
                          for lv, ix in inner))
                )
            )
        if not parts:
            return []
        query = parts[0] if len(parts) == 1 else union_all(*parts)
        found = {(row[0], row[1]): row[2] for row in self.connection.execute(query)}
        try:
            return [found[node] for node in ids]
        except KeyError as exc:
            raise StoreError(f"stored subtree {exc.args[0]} is missing") from exc

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root at ``size`` (default: now), from O(log n) stored nodes."""
        head = self.head()
        if size is None or size == head.size:
            return head.frontier.root()
        self._check_size(size)
        return root_from_source(size, self)

    def entries(self, start: int = 0, limit: int = 1000) -> list[StoredEntry]:
        query = (
            select(ledger_entries)
            .where(ledger_entries.c.seq >= start)
            .order_by(ledger_entries.c.seq)
            .limit(limit)
        )
        return [StoredEntry(*row) for row in self.connection.execute(query)]

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
        size = self.size() if size is None else size
        self._check_size(size)
        return inclusion_proof(index, size, self)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size() if new_size is None else new_size
        self._check_size(new_size)
        return consistency_proof(old_size, new_size, self)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        row = self.connection.execute(
            select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)
        ).first()
        return _stored_checkpoint(row)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self.connection.execute(
            select(ledger_checkpoints).order_by(ledger_checkpoints.c.size.desc()).limit(1)
        ).first()
        return _stored_checkpoint(row)


def _stored_checkpoint(row) -> StoredCheckpoint | None:
    if row is None:
        return None
    time = row.time
    if time.tzinfo is None:  # SQLite keeps no zone; we always store UTC
        time = time.replace(tzinfo=timezone.utc)
    return StoredCheckpoint(row.size, row.root, row.note, time)


# ---------------------------------------------------------------- checkpoints


def cut_checkpoint(
    connection: Connection,
    signer: NoteSigner,
    origin: str,
    now: datetime,
    policy: CheckpointPolicy | None = None,
) -> StoredCheckpoint | None:
    """Sign and store a checkpoint of the committed log, if one is due.

    Returns the new checkpoint, or the latest stored one when nothing was
    cut (the size did not change, or ``policy`` says not yet); ``None`` if
    there is none at all.  Never re-signs an unchanged size.  Two cutters
    racing on one size store one row (Ed25519 is deterministic, so both
    signed the same note).
    """
    if now.tzinfo is None:
        raise StoreError("cut_checkpoint needs a timezone-aware time")
    reader = LedgerReader(connection)
    head = reader.head()
    latest = reader.latest_checkpoint()
    if latest is not None and head.size <= latest.size:
        return latest
    if policy is not None and not policy.due(
        head.size,
        latest.size if latest else None,
        latest.time if latest else None,
        now,
    ):
        return latest
    root = head.frontier.root()
    note = sign_checkpoint(signer, origin, head.size, root)
    _insert_ignoring_conflicts(
        connection,
        ledger_checkpoints,
        {"size": head.size, "root": root, "note": note, "time": now.astimezone(timezone.utc)},
    )
    return reader.checkpoint(head.size)


def configure_sqlite_writes(engine: Engine) -> None:
    """Make every SQLite transaction a write transaction (BEGIN IMMEDIATE).

    The ledger relies on this for serialization on SQLite; the service may
    use this helper or do the same itself.  Also turns on WAL and a busy
    timeout so concurrent writers wait instead of failing at once.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
