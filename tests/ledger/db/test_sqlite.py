"""configure_sqlite: the one SQLite configuration the service and the ledger share."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, text

from consentry.ledger.db import configure_sqlite
from consentry.ledger.errors import StoreError


def sqlite_engine(path, *, immediate):
    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite(engine, immediate=immediate)
    return engine


def other_writer_gets_the_lock(path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise  # any other failure is not the answer to this question
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


@pytest.mark.parametrize("immediate", [True, False])
def test_every_connection_gets_the_pragmas(tmp_path, immediate):
    engine = sqlite_engine(tmp_path / "ledger.db", immediate=immediate)
    with engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")}
    engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30_000, "foreign_keys": 1}


def test_immediate_takes_the_write_lock_at_begin(tmp_path):
    path = tmp_path / "ledger.db"
    engine = sqlite_engine(path, immediate=True)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        assert not other_writer_gets_the_lock(path)
    assert other_writer_gets_the_lock(path)
    engine.dispose()


def test_deferred_reader_leaves_the_write_lock_free(tmp_path):
    path = tmp_path / "ledger.db"
    engine = sqlite_engine(path, immediate=False)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        assert other_writer_gets_the_lock(path)
    engine.dispose()


def test_refuses_an_engine_that_is_not_sqlite():
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="needs a SQLite engine"):
        configure_sqlite(engine, immediate=True)
