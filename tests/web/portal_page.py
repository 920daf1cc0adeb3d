"""Driving the patient portal as a patient (or a proxy) would (a unique module name for the
browser suites): the key made in the browser, enrolled by the operator from the public key the
page shows, the records opened by typing ids and pressing buttons."""

from __future__ import annotations

import base64
import re
import secrets

from playwright.sync_api import Page, expect

from consentry.v1 import registry_pb2


def open_portal(harness, page: Page) -> Page:
    page.goto(harness.server.web.url + "portal/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def make_key(page: Page, patient_id: str) -> bytes:
    """Types the id and makes the key in the browser; the public key as the page shows it."""
    page.fill("#my-id", patient_id)
    page.click("#create-key")
    expect(page.locator("#public-key")).not_to_be_empty()
    expect(page.locator("#qr svg")).to_be_visible()
    return base64.b64decode(page.text_content("#public-key") or "")


def enrol(harness, page: Page, patient_id: str | None = None) -> str:
    """A patient whose key was made in this browser, enrolled by the operator from the shown
    public key (as `consentry operator enrol-patient` would)."""
    patient_id = patient_id or f"P{secrets.token_hex(5)}"
    public_key = make_key(page, patient_id)
    harness.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
        patient_id=patient_id, identity_public_key=public_key))
    return patient_id


def open_records(page: Page, patient_id: str, expected: str = r"status ok") -> None:
    """Opens the records of `patient_id` (one's own, or as a proxy)."""
    page.fill("#acting-for", patient_id)
    page.click("#open")
    expect(page.locator("#open-status")).to_have_class(re.compile(expected))


def portal_for(harness, page: Page) -> str:
    """A fresh patient enrolled from this browser, their records open."""
    open_portal(harness, page)
    patient_id = enrol(harness, page)
    open_records(page, patient_id)
    return patient_id
