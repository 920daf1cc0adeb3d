"""Fixtures of the ledger tests: a checkpoint signer and a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consentry.ledger.checkpoint import NoteSigner


@pytest.fixture(scope="session")
def signer():
    return NoteSigner.generate("consentry.test/ledger")


@pytest.fixture
def now():
    return datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
