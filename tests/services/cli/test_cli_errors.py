"""Ordinary mistakes, as an operator makes them: each ends `consentry` with one line naming what
is wrong and an exit code for its kind (README, "Errors"), never a traceback — unless asked for
with --debug — and a typo'd data directory never starts a new deployment."""

from __future__ import annotations

import os

import pytest
from cli_helpers import run

CONFIG, DATABASE = 3, 4


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_serve_refuses_a_data_directory_that_was_never_initialised(tmp_path):
    typo = tmp_path / "consentry-dta"
    result = run("serve", "--listen", "127.0.0.1:0", "--data-dir", str(typo), timeout=60)
    assert result.returncode == 1
    assert _one_line(result) == (f"consentry serve: {typo} is not an initialised data directory; create it with "
                                 f"`consentry init --data-dir {typo}`, or pass --init")
    assert not typo.exists()  # no keys, no database, no ledger were made


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CONSENTRY_CHECKPOINT_ENTRIES", "a thousand",
     "CONSENTRY_CHECKPOINT_ENTRIES must be a whole number, not 'a thousand'"),
    ("CONSENTRY_CHECKPOINT_SECONDS", "0", "CONSENTRY_CHECKPOINT_SECONDS must be at least 0.001, not 0.0"),
    ("CONSENTRY_POLICY_ENGINE", "wasm", "CONSENTRY_POLICY_ENGINE must be one of embedded, opa, not 'wasm'"),
    ("CONSENTRY_INSECURE_PLAINTEXT", "maybe",
     "CONSENTRY_INSECURE_PLAINTEXT must be 1 or 0 (true/false, yes/no), not 'maybe'"),
    ("CONSENTRY_MAX_BODY_BYTES", "12", "CONSENTRY_MAX_BODY_BYTES must be from 1048576 to 1073741824, not 12"),
    ("CONSENTRY_POLICY_TIMEOUT_S", "0", "CONSENTRY_POLICY_TIMEOUT_S must be at least 0.001, not 0.0"),
    ("CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S", "often",
     "CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S must be a number, not 'often'"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(variable, value, says, tmp_path):
    result = run("init", "--data-dir", str(tmp_path / "data"), env=os.environ | {variable: value})
    assert result.returncode == CONFIG
    assert _one_line(result) == f"consentry init: {says}"
    assert not (tmp_path / "data").exists()


def test_a_database_that_cannot_be_used_is_one_line_and_debug_shows_the_traceback(tmp_path):
    env = os.environ | {"CONSENTRY_DATABASE_URL": f"sqlite:///{tmp_path}/no-such-dir/consentry.db"}
    args = ("serve", "--init", "--listen", "127.0.0.1:0", "--workers", "1", "--data-dir", str(tmp_path / "data"))
    result = run(*args, env=env, timeout=60)
    assert result.returncode == DATABASE
    assert _one_line(result).startswith("consentry serve: the database cannot be used: ")
    assert "unable to open database file" in result.stderr

    debug = run("--debug", *args, env=env, timeout=60)
    assert debug.returncode == DATABASE
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("consentry serve: the database cannot be used: ")


def test_a_missing_key_file_is_one_line(tmp_path):
    data = tmp_path / "data"
    assert run("init", "--data-dir", str(data)).returncode == 0
    (data / "ledger-signing.key").unlink()
    result = run("serve", "--listen", "127.0.0.1:0", "--workers", "1", "--data-dir", str(data), timeout=60)
    assert result.returncode == 1
    line = _one_line(result)
    assert line.startswith("consentry serve: ") and "ledger-signing.key" in line
    assert not (data / "ledger-signing.key").exists()  # not silently replaced by a new ledger key
