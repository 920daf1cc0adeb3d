"""Driving the patient portal as a patient (or a proxy) would (a unique module name for the
browser suites): the key made in the browser, enrolled by the operator from the public key the
page shows, the records opened by typing ids and pressing buttons."""

from __future__ import annotations

import base64
import re
import secrets

from playwright.sync_api import Page, expect

from consentry.services.cli.demo import discharge_records
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2


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
    reopen(page, expected)


# What the live-feed line says once it has settled: streaming, not allowed, or polling.
SETTLED = re.compile(r"^(Live: |Live updates are not available|Checking for new accesses)")


def reopen(page: Page, expected: str = r"status ok") -> None:
    """Presses Open and waits until the page has read everything and its live feed has settled
    (its first catch-up done), as a person would before reading it."""
    page.click("#open")
    expect(page.locator("#open-status")).to_have_class(re.compile(expected))
    if expected == r"status ok":
        expect(page.locator("#live-status")).to_have_text(SETTLED)


def portal_for(harness, page: Page) -> str:
    """A fresh patient enrolled from this browser, their records open."""
    open_portal(harness, page)
    patient_id = enrol(harness, page)
    open_records(page, patient_id)
    return patient_id


REASON = "follow-up after your discharge"


def deposit(hospital, patient_id: str) -> None:
    for title, body in discharge_records(patient_id).items():
        if title != "psychiatric note":
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient_id, fhir_json=body))


def ask(doctor, patient_id: str, categories=("discharge-summary", "medication", "lab")) -> str:
    return doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(
        patient_id=patient_id, reason=REASON, notice=doctor.notice,
        terms=consent_pb2.ConsentTerms(categories=list(categories), purposes=["TREAT"]))).request.request_id


def fetched(harness, org, patient_id: str, purpose: str = "TREAT", emergency: str = "") -> list:
    return list(org.client.fetch(patient_id, purpose, recipient_key=org.encryption, service_key=harness.service_key,
                                 emergency_justification=emergency))


def tab_to(page: Page, name: str, limit: int = 80) -> None:
    """Moves the focus with Tab alone until it is on the button named `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName === 'BUTTON' && document.activeElement.textContent.trim()") \
                == name:
            return
    raise AssertionError(f"Tab never reached a button named {name!r}")


def family_doctor(harness):
    return harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen", prefix="gp")
