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
from functools import lru_cache
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import (
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
    TextClause,
    insert,
    select,
    text,
    update,
)

from .canonical import canonical_json
from .checkpoint import CheckpointPolicy, NoteSigner, sign_checkpoint
from .errors import EntryError, ProofError, StoreError
from .hashing import ZERO_HASH, chain_hash, leaf_hash
from .merkle import (
    Frontier,
    NodeId,
    consistency_proof,
    inclusion_proof,
    perfect_subtrees,
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


# Built once: constructing a Core statement per call costs more than running it.
_HEAD_QUERY = select(ledger_head.c.size, ledger_head.c.chain_hash, ledger_head.c.frontier).where(
    ledger_head.c.id == _HEAD_ID
)
_HEAD_QUERY_FOR_UPDATE = _HEAD_QUERY.with_for_update()  # compiled away on SQLite


def _read_head(connection: Connection, for_update: bool) -> Head | None:
    row = connection.execute(_HEAD_QUERY_FOR_UPDATE if for_update else _HEAD_QUERY).first()
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
        return self._fetch(ids, None)

    def _fetch(self, ids: Sequence[NodeId], size: int | None) -> list[bytes]:
        """Hashes of ``ids``; with ``size``, also check the ledger has that size.

        Both happen in *one* statement of constant (PostgreSQL) or cached
        (SQLite) text: a proof is one round trip and never builds a
        SQLAlchemy expression per call.
        """
        if size is not None and size < 0:
            raise StoreError(f"size {size} is outside the ledger's current size")
        if not ids and size is None:
            return []
        found: dict[NodeId, bytes] = {}
        current = None
        if self.connection.dialect.name == "postgresql":
            batches = [ids]
        else:  # stay far below SQLite's bound-parameter limit
            batches = [ids[i : i + _SQLITE_BATCH] for i in range(0, len(ids), _SQLITE_BATCH)] or [ids]
        for batch in batches:
            statement, params = _nodes_statement(self.connection.dialect.name, batch, size is not None)
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

    def _proof_source(self, size: int | None) -> _ProofSource:
        if size is None:
            # Read the head: the proof's left and right ranges are subtrees of
            # its frontier, so only the siblings below the fork need a read.
            head = self.head()
            return _ProofSource(self, head.size, checked=True, frontier=head.frontier)
        if size < 0:
            raise StoreError(f"size {size} is outside the ledger")
        return _ProofSource(self, size, checked=False, frontier=None)

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


class _ProofSource:
    """NodeSource for one proof at ``size``.

    Unless ``size`` came from the head just read (``checked``), the first
    fetch also checks ``size <= current size`` in the same statement.  Nodes
    of a given ``frontier`` (the perfect subtrees covering [0, head size),
    complete and therefore immutable) are served without a read.
    """

    __slots__ = ("reader", "size", "checked", "known")

    def __init__(self, reader: LedgerReader, size: int, checked: bool, frontier: Frontier | None):
        self.reader = reader
        self.size = size
        self.checked = checked
        self.known: dict[NodeId, bytes] = {}
        if frontier is not None:
            self.known = dict(zip(perfect_subtrees(0, frontier.size), frontier.hashes))

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        known = self.known
        missing = [node for node in ids if node not in known]
        if missing or not self.checked:
            fetched = self.reader._fetch(missing, None if self.checked else self.size)
            self.checked = True
            if not known:
                return fetched
            known = {**known, **dict(zip(missing, fetched))}
        return [known[node] for node in ids]

    def check(self) -> None:
        if not self.checked:
            self.reader._check_size(self.size)
            self.checked = True


# One statement per (dialect, shape).  PostgreSQL gets arrays, so its text is
# constant (psycopg prepares it server-side after a few uses; no re-planning);
# SQLite joins a VALUES list to the primary keys (one index probe per node;
# a row-value IN list would scan) and caches the text per list length.
_SQLITE_BATCH = 256

_ENTRIES, _NODES, _HEAD = ledger_entries.fullname, ledger_nodes.fullname, ledger_head.fullname

# The head's size as a row (level -1) of the node query: the size check rides along.
_HEAD_SIZE_SQL = (
    "SELECT -1 AS level, size AS idx, CAST(NULL AS {blob}) AS hash"
    f" FROM {_HEAD} WHERE id = {_HEAD_ID}"
)

_PG_NODES_SQL = (
    f"SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM {_ENTRIES}"
    " WHERE seq = ANY(CAST(:seqs AS BIGINT[]))"
    " UNION ALL SELECT n.level, n.idx, n.hash"
    " FROM unnest(CAST(:levels AS SMALLINT[]), CAST(:idxs AS BIGINT[])) AS q(level, idx)"
    f" JOIN {_NODES} n ON n.level = q.level AND n.idx = q.idx"
)
_PG_NODES = text(_PG_NODES_SQL)
_PG_NODES_AND_SIZE = text(_HEAD_SIZE_SQL.format(blob="BYTEA") + " UNION ALL " + _PG_NODES_SQL)
_SQLITE_SIZE = text(_HEAD_SIZE_SQL.format(blob="BLOB"))


@lru_cache(maxsize=2 * _SQLITE_BATCH + 2)
def _sqlite_nodes(count: int, with_size: bool) -> TextClause:
    values = ", ".join(f"(:l{i}, :i{i})" for i in range(count))
    return text(
        f"WITH q(level, idx) AS (VALUES {values}) "
        + (_HEAD_SIZE_SQL.format(blob="BLOB") + " UNION ALL " if with_size else "")
        + f"SELECT 0, e.seq, e.leaf_hash FROM q JOIN {_ENTRIES} e"
        " ON q.level = 0 AND e.seq = q.idx"
        f" UNION ALL SELECT n.level, n.idx, n.hash FROM q JOIN {_NODES} n"
        " ON n.level = q.level AND n.idx = q.idx"
    )


def _nodes_statement(dialect: str, ids: Sequence[NodeId], with_size: bool) -> tuple[TextClause, dict]:
    if dialect == "postgresql":
        seqs, levels, idxs = [], [], []
        for level, index in ids:
            if level == 0:
                seqs.append(index)
            else:
                levels.append(level)
                idxs.append(index)
        params = {"seqs": seqs, "levels": levels, "idxs": idxs}
        return (_PG_NODES_AND_SIZE if with_size else _PG_NODES), params
    if dialect != "sqlite":  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise StoreError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")
    if not ids:  # (only asked for with_size)
        return _SQLITE_SIZE, {}
    params = {}
    for i, (level, index) in enumerate(ids):
        params[f"l{i}"] = level
        params[f"i{i}"] = index
    return _sqlite_nodes(len(ids), with_size), params


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
