"""Enrolling in the portal with a one-time code (Chromium, real server): the key made in the
page, its proof signed there, the code redeemed without a token; a lost device replaced by a new
code, after which the old browser's key is refused; a wrong code refused in one sentence."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import expect
from portal_page import enrol, open_portal, open_records

from consentry.v1 import registry_pb2


def code_for(harness, patient_id: str) -> str:
    return harness.operator.registry.CreateEnrolmentCode(
        registry_pb2.CreateEnrolmentCodeRequest(patient_id=patient_id)).code


def redeem(page, code: str) -> None:
    page.fill("#enrol-code", code)
    page.click("#redeem")
    expect(page.locator("#key-status")).to_have_class(re.compile(r"status (ok|bad)"))


def test_a_code_enrols_the_key_made_here_and_a_new_one_replaces_a_lost_device(web_harness, page, chromium):
    patient_id = f"P{secrets.token_hex(5)}"
    open_portal(web_harness, page)
    redeem(page, code_for(web_harness, patient_id).lower())  # read case-insensitively
    key_id = page.text_content("#key-id")
    expect(page.locator("#key-status")).to_have_text(
        f"Enrolled: this browser's key {key_id} now acts for patient {patient_id}.")
    expect(page.locator("#my-id")).to_have_value(patient_id)
    open_records(page, patient_id)
    expect(page.locator("#qr svg")).to_be_visible()

    # The phone is lost: a new device redeems a new code; the old key is revoked at once.
    context = chromium.new_context(locale="en-GB")
    try:
        phone = context.new_page()
        open_portal(web_harness, phone)
        redeem(phone, code_for(web_harness, patient_id))
        expect(phone.locator("#key-status")).to_have_class("status ok")
        assert phone.text_content("#key-id") != key_id
        open_records(phone, patient_id)
    finally:
        context.close()
    open_records(page, patient_id, expected=r"status (ok|bad)")
    expect(page.locator("#consents-status")).to_have_text(re.compile(
        r"^Refused \(your key was not accepted \(is it enrolled for this id\?\)\): "))


def test_a_wrong_code_is_refused_in_one_sentence_and_the_key_kept_stays(web_harness, page):
    open_portal(web_harness, page)
    patient_id = enrol(web_harness, page)
    key_id = page.text_content("#key-id")
    redeem(page, "7K2M-Q9XD-4TFA")
    expect(page.locator("#key-status")).to_have_text(re.compile(r"^Refused \(you may not do this\): .+"))
    open_portal(web_harness, page)  # the returning patient's records open with the key kept
    expect(page.locator("#key-id")).to_have_text(key_id)
    open_records(page, patient_id)
