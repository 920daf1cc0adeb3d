"""The database ledger suite runs on every backend in `tests/backends.py`."""

from __future__ import annotations

import pytest
from backends import BACKENDS
from backends import engine as backend_engine

from consentry.ledger.db import create_tables


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A fresh database holding the ledger's (empty) tables."""
    with backend_engine(request.param, tmp_path) as made:
        create_tables(made)
        yield made
