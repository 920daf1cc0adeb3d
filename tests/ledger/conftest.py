"""Shared fixtures: one storage suite over SQLite and PostgreSQL.

PostgreSQL runs when CONSENTRY_TEST_PG_URL is set (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test); each test gets its own
schema (search_path via connect args) which is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text

from consentry.ledger.checkpoint import NoteSigner
from consentry.ledger.store import LEDGER_TABLES, configure_sqlite_writes, metadata

PG_URL = os.environ.get("CONSENTRY_TEST_PG_URL")


def make_pg_engine(url: str, schema: str):
    return create_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def make_sqlite_engine(path):
    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite_writes(engine)
    return engine


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def db(request, tmp_path):
    """A fresh database with the ledger tables; yields a ``Db`` helper."""
    if request.param == "sqlite":
        engine = make_sqlite_engine(tmp_path / "ledger.db")
        metadata.create_all(engine, tables=LEDGER_TABLES)
        yield Db(engine, "sqlite", str(tmp_path / "ledger.db"), None)
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("CONSENTRY_TEST_PG_URL is not set")
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_pg_engine(PG_URL, schema)
    metadata.create_all(engine, tables=LEDGER_TABLES)
    try:
        yield Db(engine, "postgresql", PG_URL, schema)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Db:
    def __init__(self, engine, kind, url, schema):
        self.engine = engine
        self.kind = kind
        self.url = url
        self.schema = schema


@pytest.fixture(scope="session")
def signer():
    return NoteSigner.generate("consentry.test/ledger")


@pytest.fixture
def now():
    return datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
