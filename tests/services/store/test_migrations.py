"""The Alembic migrations build exactly the schema the models describe, on every backend, and
migrate the data they must."""

from __future__ import annotations

import hashlib
import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from backends import BACKENDS, database
from sqlalchemy import text

from consentry.services.domain.validation import CATEGORIES, SENSITIVE_CATEGORIES
from consentry.services.store.db import Database
from consentry.services.store.models import Base
from consentry.services.store.schema import alembic_config, upgrade


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_upgrade_to_keyed_content_hashes_drops_every_unsalted_one(backend, tmp_path):
    with database(backend, tmp_path) as url:
        db = Database(url)
        try:
            config = alembic_config(url)
            with db.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0002")
                conn.execute(text(
                    "INSERT INTO records (record_id, patient_id, holder, resource_type, category, labels, created_ns,"
                    " content_hash) VALUES ('r-1', 'P1', 'org-1', 'Observation', 'lab', '[]', 0, :plain)"),
                    {"plain": hashlib.sha256(b"{}").hexdigest()})
            upgrade(db)
            with db.engine.connect() as conn:
                rows = conn.execute(text("SELECT record_id, content_hash FROM records")).all()
        finally:
            db.dispose()
    assert [tuple(row) for row in rows] == [("r-1", None)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_upgrade_fixes_what_an_earlier_broad_consent_covers_to_the_categories_of_that_day(backend, tmp_path):
    with database(backend, tmp_path) as url:
        db = Database(url)
        try:
            config = alembic_config(url)
            with db.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0005")
                conn.execute(text(
                    "INSERT INTO consents (consent_id, version, patient_id, grantee, kind, categories, purposes,"
                    " excepted, status, created_by, created_ns) VALUES"
                    " ('c-broad', 1, 'P1', 'org-1', 'treatment', '[\"*\", \"mental-health\"]', '[\"TREAT\"]', '[]',"
                    " 'active', 'patient:P1', 0),"
                    " ('c-named', 1, 'P1', 'org-1', 'treatment', '[\"lab\"]', '[\"TREAT\"]', '[]',"
                    " 'active', 'patient:P1', 0)"))
            upgrade(db)
            with db.engine.connect() as conn:
                rows = dict(conn.execute(text("SELECT consent_id, broad_categories FROM consents")).all())
        finally:
            db.dispose()
    stored = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
    assert stored == {"c-broad": [c for c in CATEGORIES if c not in SENSITIVE_CATEGORIES], "c-named": None}
