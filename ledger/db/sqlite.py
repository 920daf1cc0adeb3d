"""The one SQLite configuration the ledger and its users share.

The ledger relies on it for serialization on SQLite: a write transaction
starts with ``BEGIN IMMEDIATE``, which takes the database's single writer
lock up front, so two appenders never deadlock upgrading a read lock and
the head row read under it is the tail.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event

from ..errors import StoreError

BUSY_TIMEOUT_MS = 30_000

_PRAGMAS = (
    # First, so the statements below wait for a busy database instead of failing at once.
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # Readers never block the writer, nor the writer readers.
    "PRAGMA journal_mode=WAL",
    # A commit (and so a ledger entry) survives a power loss, not only a crash.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)


def configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    """Configure every connection of a SQLite ``engine``.

    Sets WAL, ``synchronous=FULL``, a 30 s busy timeout and foreign keys,
    and lets SQLAlchemy rather than the driver begin transactions: with
    ``BEGIN IMMEDIATE`` when ``immediate`` (an engine that writes, and
    every engine a ``LedgerWriter`` uses), else with a deferred ``BEGIN``
    (a read-only engine, which then never waits for the writer lock).
    """
    if engine.dialect.name != "sqlite":
        raise StoreError(f"configure_sqlite needs a SQLite engine, not {engine.dialect.name}")
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)
