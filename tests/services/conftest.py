from __future__ import annotations

import pytest
from backends import BACKENDS, database
from harness import Harness


@pytest.fixture(scope="module", params=BACKENDS)
def harness(request, tmp_path_factory):
    """One server per backend per test module; tests make their own principals."""
    directory = tmp_path_factory.mktemp("consentry")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url)
        h.backend = request.param
        try:
            yield h
        finally:
            h.stop()
