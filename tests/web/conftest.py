"""A real browser for the web pages: Debian's Chromium driven by Playwright, never a browser that
Playwright downloads. The tests skip only where /usr/bin/chromium is missing and
CONSENTRY_TEST_REQUIRE_BROWSER is unset; CI installs Chromium and sets it, so there they run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from backends import BACKENDS, database
from harness import Harness

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CONSENTRY_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"CONSENTRY_TEST_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser profile (its own IndexedDB and storage) per test; a script error fails it."""
    context = chromium.new_context(accept_downloads=True, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


@pytest.fixture(scope="module", params=BACKENDS)
def web_harness(request, tmp_path_factory):
    """The front door's server (tests/conftest.py's `web_harness`) with room for the portal's live
    feeds: each open page holds a WatchAccess stream and a worker thread (docs/watch.md), and a
    heartbeat of a second keeps the pages' waits for a live event short."""
    directory = tmp_path_factory.mktemp("consentry-web")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, http="127.0.0.1:0", workers=32, watch_heartbeat_s=1.0)
        h.backend = request.param
        try:
            yield h
        finally:
            h.stop()
