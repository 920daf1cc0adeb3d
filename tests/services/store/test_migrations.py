"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from backends import BACKENDS, database

from consentry.services.store.db import Database
from consentry.services.store.models import Base
from consentry.services.store.schema import upgrade


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_the_models(backend, tmp_path):
    with database(backend, tmp_path) as url:
        db = Database(url)
        try:
            upgrade(db)
            upgrade(db)  # idempotent: a restarted server migrates nothing
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        finally:
            db.dispose()
    assert diff == []
