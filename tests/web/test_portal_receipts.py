"""The portal's consent receipts, preview and home readings in Chromium against a real server:
each change's receipt verified in the browser against the service key and downloadable as the
file the SDK and CLI verify, a tampered file rejected; a preview of what a grantee could see; a
blood pressure typed in the portal reaching the family doctor's fetch under consent."""

from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from playwright.sync_api import expect
from portal_page import deposit, family_doctor, fetched, portal_for, reopen

from consentry.services.sdk.consent_receipts import verify_consent_receipt
from consentry.v1 import consent_pb2


def _grant_lab_and_vitals(page, org) -> None:
    page.select_option("#grant-institution", org.id)
    page.fill("#grant-notice", org.notice.notice_id)
    page.click("#grant-show-notice")
    expect(page.locator("#grant-notice-text")).to_be_visible()
    for name in ("lab results", "vital signs"):
        page.locator("#grant-categories").get_by_label(name).check()


def test_each_change_has_a_receipt_verified_here_and_a_tampered_one_is_rejected(web_harness, page, tmp_path):
    doctor = family_doctor(web_harness)
    patient_id = portal_for(web_harness, page)
    reopen(page)  # the institution list now includes the doctor
    _grant_lab_and_vitals(page, doctor)
    page.click("#grant")
    expect(page.locator("#grant-status")).to_have_text("Done: the consent is given.")
    receipt = page.locator("#receipts li").first
    expect(receipt).to_have_attribute("data-verified", "true")
    expect(receipt).to_contain_text(f"Receipt verified ✓ — consent to {doctor.id} given (version 1)")

    with page.expect_download() as download:
        receipt.get_by_role("link", name="Download the receipt").click()
    saved = tmp_path / "receipt.json"
    download.value.save_as(saved)
    # The file is the one the SDK (and `consentry receipt verify`) checks.
    message = json_format.Parse(saved.read_text(), consent_pb2.ConsentReceipt())
    statement = verify_consent_receipt(message, web_harness.service_key)
    assert (statement["change"], statement["patient_id"], statement["grantee"]) == ("grant", patient_id, doctor.id)

    page.set_input_files("#receipt-file", str(saved))
    expect(page.locator("#receipts-status")).to_have_class("status ok")
    expect(page.locator("#receipts-status")).to_contain_text("This receipt is valid ✓")

    # The statement changed after signing (a wider consent claimed): rejected here.
    forged = json.loads(saved.read_text())
    text = base64.b64decode(forged["statement"]).replace(b'"lab"', b'"all"')
    forged["statement"] = base64.b64encode(text).decode()
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    page.set_input_files("#receipt-file", str(tmp_path / "forged.json"))
    expect(page.locator("#receipts-status")).to_have_text(
        "This receipt is NOT valid: the signature does not match the statement")

    # Revoking gives its own receipt; the consent lists both.
    page.locator("#consents li").get_by_role("button", name="Revoke").click()
    expect(page.locator("#receipts li").first).to_contain_text("revoked (version 1)")
    reopen(page)
    page.locator("#consents li").first.get_by_role("button", name="Receipts").click()
    expect(page.locator("#receipts li[data-verified=true]")).to_have_count(4)


def test_a_preview_shows_what_the_grantee_could_see(web_harness, page):
    hospital, doctor = web_harness.org(prefix="hospital"), family_doctor(web_harness)
    patient_id = portal_for(web_harness, page)
    deposit(hospital, patient_id)
    reopen(page)
    _grant_lab_and_vitals(page, doctor)
    page.click("#grant-preview")
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text(f"{doctor.id} could see:")
    expect(preview.locator("ul").first).to_contain_text(f"1 × lab results held by {hospital.id}")
    expect(page.locator("#consents li")).to_have_count(0)  # a preview grants nothing


def test_a_home_reading_added_here_reaches_the_doctors_fetch(web_harness, page):
    doctor = family_doctor(web_harness)
    patient_id = portal_for(web_harness, page)
    page.select_option("#reading-kind", "bp")
    page.get_by_label("Systolic (mmHg)").fill("135")
    page.get_by_label("Diastolic (mmHg)").fill("85")
    page.click("#add-reading")
    expect(page.locator("#reading-status")).to_have_text("Added: the reading is with your records.")
    reading = page.locator("#records [data-category='vital-signs'] li")
    expect(reading).to_have_count(1)
    expect(reading).to_contain_text("added by you")

    reopen(page)
    _grant_lab_and_vitals(page, doctor)
    page.click("#grant")
    expect(page.locator("#grant-status")).to_have_text("Done: the consent is given.")
    [item] = fetched(web_harness, doctor, patient_id)
    body = json.loads(item.body)
    assert body["code"]["coding"][0]["code"] == "85354-9"
    assert [c["valueQuantity"]["value"] for c in body["component"]] == [135, 85]
    assert body["performer"] == [{"reference": f"Patient/{patient_id}"}]
