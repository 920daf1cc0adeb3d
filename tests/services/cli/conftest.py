"""The running server the CLI tests talk to."""

from __future__ import annotations

import pytest
from cli_helpers import serve


@pytest.fixture
def served(tmp_path):
    """`consentry serve` on a fresh data directory: (target, data directory, process).

    Its output goes to ``serve.log`` beside the data directory."""
    data = tmp_path / "data"
    with open(tmp_path / "serve.log", "w") as log:
        proc, target = serve(data, log)
        try:
            yield target, data, proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)
