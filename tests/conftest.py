"""Puts tests/ on sys.path (pytest's rootdir conftest rule) so suites share `backends`, `harness`
and `pki`; serves the `harness` fixture (a real server per backend) and `mtls_harness` (one
running mutual TLS); keeps the CLI's state files in the run's own directory; and reports the
suites a run left out once, at the end, with how to run them."""

from __future__ import annotations

import os
from collections import Counter

import pytest
import softhsm
from backends import BACKENDS, database
from harness import Harness
from pki import Pki

# What a newcomer types to run a suite this machine skipped, keyed by the skip reason's start.
HOW_TO_RUN = {
    "CONSENTRY_TEST_PG_URL is not set":
        "CONSENTRY_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test",
    "/usr/bin/chromium is missing": "apt-get install -y chromium",
    "softhsm2 is missing": "apt-get install -y softhsm2",
    "the signed-note signer key":
        "put the published signer key at ../shared/vectors/signed-note/signer-key.txt "
        "or set CONSENTRY_SIGNED_NOTE_SIGNER_KEY",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        _path, _line, reason = report.longrepr
        reasons[reason.removeprefix("Skipped: ")] += 1
    if not reasons:
        return
    terminalreporter.section("not run here")
    for reason, count in reasons.most_common():
        how = next((h for start, h in HOW_TO_RUN.items() if reason.startswith(start)), None)
        terminalreporter.write_line(f"{count} tests: {reason}" + (f" -> {how}" if how else ""))


@pytest.fixture(scope="session", autouse=True)
def _state_home(tmp_path_factory):
    """`consentry audit` keeps the last trusted checkpoint under $XDG_STATE_HOME by default: in
    tests (and the commands they start), a directory of the run's own, never the user's."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))


@pytest.fixture(scope="session", autouse=True)
def _softhsm(tmp_path_factory):
    """The run's SoftHSM tokens, made before anything in this process loads the module."""
    softhsm.start(tmp_path_factory.mktemp("softhsm"))


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


@pytest.fixture(scope="module", params=BACKENDS)
def web_harness(request, tmp_path_factory):
    """One server per backend per test module that also serves the web front door on a loopback
    port (`web_harness.server.web.url`)."""
    directory = tmp_path_factory.mktemp("consentry-web")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, http="127.0.0.1:0")
        h.backend = request.param
        try:
            yield h
        finally:
            h.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def mtls_harness(request, tmp_path_factory):
    """One mutual-TLS server per backend per test module (tests/pki.py made its certificates):
    `mtls_harness.target` asks for no client certificate, `.mtls_target` requires one from
    `.pki.client_ca`."""
    directory = tmp_path_factory.mktemp("consentry-mtls")
    pki = Pki.create(directory / "pki")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, roots=pki.server_ca.pem, **pki.server_settings())
        h.backend, h.pki = request.param, pki
        try:
            yield h
        finally:
            h.stop()
