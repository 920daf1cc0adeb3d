"""Engines for the policy tests: every engine that loads on this machine."""

from __future__ import annotations

import pytest
from policy_cases import ENGINE_NAMES, make_engine


@pytest.fixture(scope="session", params=ENGINE_NAMES)
def engine(request):
    return make_engine(request.param)


@pytest.fixture(scope="session")
def all_engines():
    return {name: make_engine(name) for name in ENGINE_NAMES}
