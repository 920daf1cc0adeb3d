"""A command against a server that never answers ends at $CONSENTRY_CLIENT_TIMEOUT_S with one line
and exit code 5 (README, "Errors"), instead of hanging; a bad value of the client's settings is
one line naming the variable (exit 3)."""

from __future__ import annotations

import os
import time

import pytest
from cli_helpers import one_line, run
from silent_listener import silent_listener

TIMED_OUT, CONFIG = 5, 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data directory: the operator's key and the ledger key the audit commands read."""
    directory = tmp_path_factory.mktemp("deadline") / "data"
    assert run("init", "--data-dir", str(directory)).returncode == 0
    return directory


def test_audit_export_against_a_server_that_never_answers_ends_at_the_deadline(data, tmp_path):
    with silent_listener() as target:
        started = time.monotonic()
        result = run("audit", "export", "--target", target, "--data-dir", str(data), "--out", str(tmp_path / "out"),
                     env=os.environ | {"CONSENTRY_CLIENT_TIMEOUT_S": "1.5"}, timeout=60)
        took = time.monotonic() - started
    line = one_line(result, "consentry audit: DEADLINE_EXCEEDED: ", code=TIMED_OUT)
    assert "$CONSENTRY_CLIENT_TIMEOUT_S" in line
    assert 1.5 <= took < 1.5 + 10  # the deadline, plus starting Python
    assert not (tmp_path / "out" / "entries.jsonl").exists()


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CONSENTRY_CLIENT_TIMEOUT_S", "soon", "CONSENTRY_CLIENT_TIMEOUT_S must be a number, not 'soon'"),
    ("CONSENTRY_CLIENT_TIMEOUT_S", "0", "CONSENTRY_CLIENT_TIMEOUT_S must be at least 0.001, not 0.0"),
    ("CONSENTRY_CLIENT_ATTEMPTS", "0", "CONSENTRY_CLIENT_ATTEMPTS must be from 1 to 10, not 0"),
])
def test_a_bad_client_setting_is_one_line_naming_the_variable(data, tmp_path, variable, value, says):
    result = run("audit", "export", "--target", "127.0.0.1:1", "--data-dir", str(data), "--out", str(tmp_path),
                 env=os.environ | {variable: value}, timeout=60)
    assert one_line(result, "consentry audit: ", code=CONFIG).strip() == f"consentry audit: {says}"
