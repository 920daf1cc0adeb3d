"""The storage backends every database suite runs on.

SQLite always runs. PostgreSQL runs when CONSENTRY_TEST_PG_URL is set (CI sets it, and sets
CONSENTRY_TEST_REQUIRE_PG=1 so that a missing server fails the run instead of skipping).
Each user of `database` or `engine` gets a fresh database: a file in its directory on SQLite,
its own schema, dropped afterwards, on PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text

from consentry.ledger.db import configure_sqlite

PG_URL = os.environ.get("CONSENTRY_TEST_PG_URL")
REQUIRE_PG = os.environ.get("CONSENTRY_TEST_REQUIRE_PG") == "1"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def require_pg() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("CONSENTRY_TEST_REQUIRE_PG=1 but CONSENTRY_TEST_PG_URL is not set")
        pytest.skip("CONSENTRY_TEST_PG_URL is not set")
    return PG_URL


@contextmanager
def pg_schema(prefix: str = "t") -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema: yields (url with search_path set, schema name)."""
    base = require_pg()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}", schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(kind: str, directory: str | os.PathLike[str]) -> Iterator[str]:
    """A fresh, empty database of `kind`; yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/consentry.db"
    else:
        with pg_schema("svc") as (url, _schema):
            yield url


def make_engine(url: str) -> Engine:
    """An engine on `url`, with SQLite configured as the service configures its write engine."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, immediate=True)
    return engine


@contextmanager
def engine(kind: str, directory: str | os.PathLike[str]) -> Iterator[Engine]:
    """A fresh, empty database of `kind`; yields an engine on it (see `make_engine`)."""
    with database(kind, directory) as url:
        made = make_engine(url)
        try:
            yield made
        finally:
            made.dispose()
