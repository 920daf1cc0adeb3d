"""Database engines and transactions.

Every state change happens in a *write* transaction, and its ledger entry is appended in that
same transaction, so either both commit or neither does. On SQLite a write transaction starts
with BEGIN IMMEDIATE, which takes the database's single writer lock up front: two writers never
deadlock upgrading a read lock, and a fetch that re-reads consents inside its write transaction
is strictly ordered against a concurrent revoke. On PostgreSQL the ledger's head row lock gives
the same ordering.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Engine, create_engine, event, literal_column, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from consentry.ledger.db import configure_sqlite
from consentry.services import metrics
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
        _count_connections(self.engine, "write" if self.is_sqlite else "shared")
        if self.is_sqlite:
            _count_connections(self.read_engine, "read")
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Queueing the writers on a lock keeps them in order; left to
        # SQLite's busy handler they poll with growing sleeps (seconds of tail latency). The
        # threads of this process queue on a thread lock, the processes sharing the file (the
        # workers of `serve --workers`) on a lock file beside it.
        self._writer_turn = threading.Lock() if self.is_sqlite else None
        self._writer_file = _writer_lock_path(url) if self.is_sqlite else None
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
        waited = _Waiting()
        if not self._writer_turn.acquire(timeout=WRITER_WAIT_S):
            raise _busy()
        try:
            if self._writer_file is None:
                yield
                return
            with _file_turn(self._writer_file, waited.left()):
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


def _busy() -> Unavailable:
    return Unavailable("the database is busy; nothing was changed or disclosed")


class _Waiting:
    """What is left of WRITER_WAIT_S since a writer started to wait (a monotonic interval, not
    a time the service records)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def left(self) -> float:
        return max(0.0, WRITER_WAIT_S - (time.monotonic() - self._start))


def _writer_lock_path(url: str) -> str | None:
    """`<database file>.writer-lock`; None for an in-memory database, which no other process sees."""
    name = make_url(url).database
    if not name or name == ":memory:" or "mode=memory" in url:
        return None
    return f"{name}.writer-lock"


@contextmanager
def _file_turn(path: str, timeout_s: float) -> Iterator[None]:
    """Holds an exclusive flock on `path` for the block. Each turn opens the file afresh, so a
    wait abandoned after `timeout_s` holds a lock of its own, which it lets go the moment it is
    granted, without touching the next writer's."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not _try_flock(fd) and not _flock_within(fd, timeout_s):
            fd = -1  # now the abandoned wait's to close
            raise _busy()
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # closing lets the lock go


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _flock_within(fd: int, timeout_s: float) -> bool:
    """Waits for the lock in the kernel's queue (no polling) on a helper thread; on a timeout the
    helper closes `fd` once it is granted, and the caller must not use `fd` again."""
    granted, decided = threading.Event(), threading.Lock()
    abandoned = False

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with decided:
            if abandoned:
                os.close(fd)
            else:
                granted.set()

    threading.Thread(target=wait, name="sqlite-writer-turn", daemon=True).start()
    if granted.wait(timeout_s):
        return True
    with decided:
        if granted.is_set():
            return True
        abandoned = True
    return False


@contextmanager
def _translate_db_errors() -> Iterator[None]:
    # A database that cannot do its part fails the call closed, as UNAVAILABLE.
    try:
        yield
    except DBAPIError as exc:
        if isinstance(exc, (OperationalError, InterfaceError)) or _sqlstate(exc).startswith(CANNOT_NOW):
            raise Unavailable("the database is unavailable; nothing was changed or disclosed") from exc
        raise


# PostgreSQL's "cannot do it now" conditions, which its driver reports as other errors than
# OperationalError: a read-only transaction (a standby, or a primary switched read-only during a
# fail-over), a serialization failure or deadlock, insufficient resources (disk full, out of
# memory, too many connections), and an administrator's shutdown. Retrying later is safe.
CANNOT_NOW = ("25006", "40001", "40P01", "53", "57P")


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", "") or "")


def _count_connections(engine: Engine, pool: str) -> None:
    """Keeps services/metrics.py's pool gauges: connections checked out now, and the pool's size."""
    in_use = metrics.DB_IN_USE.labels(pool)
    event.listen(engine, "checkout", lambda *_: in_use.inc())
    event.listen(engine, "checkin", lambda *_: in_use.dec())
    size = getattr(engine.pool, "size", None)
    if callable(size):
        metrics.DB_POOL_SIZE.labels(pool).set(size())


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
