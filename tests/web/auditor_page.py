"""Driving the auditor page as an auditor would (a unique module name for the browser suites)."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import Page, expect

from consentry.v1 import registry_pb2


def open_page(harness, page: Page) -> Page:
    page.goto(harness.server.web.url + "auditor/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def enrol(harness, page: Page, auditor_id: str) -> bytes:
    """Makes the key in the browser and has the operator enrol its public half, as shown."""
    page.fill("#auditor-id", auditor_id)
    page.click("#create-key")
    expect(page.locator("#public-key")).not_to_be_empty()
    public_key = base64.b64decode(page.text_content("#public-key") or "")
    harness.operator.registry.EnrollAuditor(registry_pb2.EnrollAuditorRequest(
        auditor_id=auditor_id, identity_public_key=public_key))
    return public_key


def ready_auditor(harness, page: Page, auditor_id: str, verifier_key: str | None = None) -> Page:
    open_page(harness, page)
    enrol(harness, page, auditor_id)
    page.fill("#verifier-key", verifier_key or harness.app.ledger_verifier_key)
    return page


def refresh(page: Page) -> str:
    """Asks for a checkpoint; the status the page settles on ('ok' or 'bad') and its text."""
    status = page.locator("#checkpoint-status")
    page.click("#refresh")
    expect(status).to_have_class(re.compile(r"status (ok|bad)"))
    return f"{status.get_attribute('class')}: {status.text_content()}"
