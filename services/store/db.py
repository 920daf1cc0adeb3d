"""Database engines and transactions.

Every state change happens in a *write* transaction, and its ledger entry is appended in that
same transaction, so either both commit or neither does. On SQLite a write transaction starts
with BEGIN IMMEDIATE, which takes the database's single writer lock up front: two writers never
deadlock upgrading a read lock, and a fetch that re-reads consents inside its write transaction
is strictly ordered against a concurrent revoke. On PostgreSQL the ledger's head row lock gives
the same ordering.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Engine, create_engine, event, literal_column
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from consentry.ledger.db import configure_sqlite
from consentry.services.errors import Unavailable

WRITER_WAIT_S = 30


def _nothing(_session: Session) -> None:
    pass


@dataclass(frozen=True)
class WriteHook:
    """Calls around every write transaction, for a feature that must share the transaction
    (idempotency claims a call's key in it) without the database knowing the feature.

    `begin` runs inside the transaction before the caller's work, so whatever it adds commits or
    rolls back with that work; `committed` runs once the transaction has committed."""

    begin: Callable[[Session], None] = _nothing
    committed: Callable[[Session], None] = _nothing


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url, immediate=True)
        # Readers on SQLite use deferred transactions so they never wait for the writer lock.
        self.read_engine = _make_engine(url, immediate=False) if self.is_sqlite else self.engine
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Queueing this process's writers on a lock keeps them in order;
        # left to SQLite's busy handler they poll with growing sleeps (seconds of tail latency).
        self._writer_turn = threading.Lock() if self.is_sqlite else None
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_hooks: list[WriteHook] = []

    def on_write(self, hook: WriteHook) -> None:
        """Runs `hook` around every later write transaction; registering it again changes nothing."""
        if hook not in self._write_hooks:
            self._write_hooks.append(hook)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception."""
        with self._turn(), _translate_db_errors(), self._write() as session:
            with session.begin():
                for hook in self._write_hooks:
                    hook.begin(session)
                yield session
            for hook in self._write_hooks:
                hook.committed(session)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._writer_turn is None:
            yield
            return
        if not self._writer_turn.acquire(timeout=WRITER_WAIT_S):
            raise Unavailable("the database is busy; nothing was changed or disclosed")
        try:
            yield
        finally:
            self._writer_turn.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _translate_db_errors(), self._read() as session, session.begin():
            yield session

    def now_ns_sql(self) -> ColumnElement[int]:
        """The database's own clock, as epoch nanoseconds (to the millisecond at least), as an
        SQL expression: replicas that share the database agree on it whatever their clocks say."""
        return now_ns_sql(self.is_sqlite)

    def shred(self, tables: tuple[str, ...]) -> None:
        """Makes what the last transactions deleted or overwrote leave the database's files, as
        far as the database itself can (docs/erasure.md): on SQLite, `secure_delete` has zeroed
        the freed cells and this truncates the WAL, which held the old pages; on PostgreSQL,
        VACUUM removes the dead row versions from `tables` (WAL segments, archives and replicas
        are outside its reach)."""
        if self.is_sqlite:
            # Outside any transaction (a checkpoint cannot run inside one), on the driver itself.
            with self.engine.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None  # a connection just checked out of the pool
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f"VACUUM {table}")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def now_ns_sql(is_sqlite: bool) -> ColumnElement[int]:
    """`Database.now_ns_sql` for a session that knows only its dialect."""
    if is_sqlite:
        return literal_column("(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) * 1000000)",
                              BigInteger)
    return literal_column("(CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) * 1000)",
                          BigInteger)


@contextmanager
def _translate_db_errors() -> Iterator[None]:
    # A database that cannot do its part fails the call closed, as UNAVAILABLE.
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable("the database is unavailable; nothing was changed or disclosed") from exc


def _make_engine(url: str, *, immediate: bool) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    configure_sqlite(engine, immediate=immediate)

    @event.listens_for(engine, "connect")
    def _secure_delete(dbapi_connection: Any, _record: object) -> None:
        # Deleted and overwritten cells are zeroed, so an erased key or body is not left in
        # free pages of the file (the WAL is truncated after an erasure: `shred`).
        dbapi_connection.execute("PRAGMA secure_delete=ON")

    return engine
