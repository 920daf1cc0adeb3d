"""The portal's pages in Chromium: a grant under the institution's privacy notice, its hash
checked in the browser (a notice altered in transit is refused), a refusal told in one sentence
naming the field, English and 简体中文, and a phone-sized screen without sideways scrolling.
`CONSENTRY_WRITE_SCREENSHOTS=1` writes docs/img/portal.png and docs/img/portal-zh-phone.png."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from playwright.sync_api import expect
from portal_page import ask, deposit, family_doctor, fetched, portal_for, reopen

from consentry.v1 import consent_pb2, registry_pb2

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "img" / "portal.png"
PHONE_SCREENSHOT = REPO / "docs" / "img" / "portal-zh-phone.png"


def _choose_grantee(page, org) -> None:
    page.select_option("#grant-institution", org.id)
    page.fill("#grant-notice", org.notice.notice_id)
    page.click("#grant-show-notice")


def test_a_grant_names_the_notice_shown_and_a_refusal_names_the_field(web_harness, page):
    doctor = family_doctor(web_harness)
    patient_id = portal_for(web_harness, page)
    reopen(page)  # the institution list now includes the doctor
    expect(page.locator(f"#grant-institution option[value='{doctor.id}']")).to_have_count(1)
    _choose_grantee(page, doctor)
    expect(page.locator("#grant-notice-text")).to_contain_text("needed to treat you safely")

    page.click("#grant")  # no category ticked: the service names the field
    expect(page.locator("#grant-status")).to_have_text(
        "Refused (something in the request is not right): terms.categories must name at least one category")

    page.locator("#grant-categories").get_by_label("lab results").check()
    page.fill("#grant-until", "2099-12-31")
    page.click("#grant")
    expect(page.locator("#grant-status")).to_have_text("Done: the consent is given.")
    card = page.locator("#consents li")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Which records: lab results — for your treatment")
    expect(card).to_contain_text("Until 31 Dec 2099")
    # The doctor's fetch now shares exactly what was given: nothing, as nothing of it is deposited.
    assert fetched(web_harness, doctor, patient_id) == []


def test_a_notice_altered_in_transit_is_not_shown(web_harness, page):
    doctor = family_doctor(web_harness)
    portal_for(web_harness, page)

    def altered(route):
        answer = route.fetch()
        body = answer.body()
        length = struct.unpack(">I", body[1:5])[0]
        message = bytearray(body[5:5 + length])
        at = bytes(message).index(b"treat you safely")
        message[at] ^= 0x20  # "Treat": the text shown would not be the one hashed
        route.fulfill(response=answer, body=body[:5] + bytes(message) + body[5 + length:])

    page.route("**/consentry.v1.RegistryService/GetPrivacyNotice", altered)
    _choose_grantee(page, doctor)
    expect(page.locator("#grant-status")).to_have_text(
        f"The privacy notice {doctor.notice.notice_id} v1 does not match its content hash, so it is not shown "
        "and nothing can be given under it.")
    expect(page.locator("#grant-notice-text")).to_be_hidden()


def test_in_chinese_and_on_a_phone(web_harness, page):
    hospital, doctor = web_harness.org(prefix="hospital"), family_doctor(web_harness)
    clinic = web_harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC, prefix="clinic")
    patient_id = portal_for(web_harness, page)
    deposit(hospital, patient_id)
    ask(doctor, patient_id)
    expect(page.locator("#requests li")).to_have_count(1, timeout=15_000)
    page.locator("#requests li").get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#consents li")).to_have_count(1)
    fetched(web_harness, doctor, patient_id)
    expect(page.locator("#history tr")).to_have_count(3, timeout=15_000)
    ask(clinic, patient_id, categories=("lab", "imaging"))
    expect(page.locator("#requests li")).to_have_count(1, timeout=15_000)
    reopen(page)
    expect(page.locator("#records [data-category]")).to_have_count(3)
    if os.environ.get("CONSENTRY_WRITE_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": 1000, "height": 900})
        page.locator("#requests li summary").click()
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        page.locator("#requests li summary").click()

    page.click("#language")
    expect(page.locator("h1")).to_have_text("Consentry — 我的健康记录")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#requests li")).to_contain_text(f"{clinic.id} 请求查看您的部分记录")
    expect(page.locator("#records")).to_contain_text("化验结果")
    expect(page.locator("#history tr").first).to_contain_text("已提供")

    page.set_viewport_size({"width": 360, "height": 780})
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] == 360, width
    if os.environ.get("CONSENTRY_WRITE_SCREENSHOTS") == "1":
        page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)

    page.click("#language")
    expect(page.locator("h1")).to_have_text("Consentry — my records")



def test_a_notice_in_chinese_with_awkward_characters_hashes_the_same_here(web_harness, page):
    """The browser's RFC 8785 encoding (lib/canonical.js) equals the server's on text that tests
    it: CJK, quotes, backslashes, a tab and a newline, U+2028, an emoji (a surrogate pair)."""
    doctor = family_doctor(web_harness)
    awkward = '医生“王”说: "line\\nbreak"\\\\ \t tab \u2028 sep \U0001F600 é'
    texts = [registry_pb2.NoticeText(language=lang, recipient_legal_name=f"{awkward} {lang}",
                                     recipient_contact="dpo@example.cn", purpose_description=awkward,
                                     handling_method="加密存储", necessity_and_impact="必要\n影响",
                                     retention="30 年", how_to_withdraw="在应用中撤回")
             for lang in ("zh-Hans", "en")]
    ref = web_harness.operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
        institution_id=doctor.id, notice_id=doctor.notice.notice_id, purposes=["TREAT"], categories=["lab"],
        texts=texts)).ref
    portal_for(web_harness, page)
    reopen(page)
    page.click("#language")
    page.select_option("#grant-institution", doctor.id)
    page.fill("#grant-notice", ref.notice_id)
    page.click("#grant-show-notice")
    expect(page.locator("#grant-notice-text")).to_contain_text("医生“王”说")
    expect(page.locator("#grant-notice-text")).to_contain_text("第 2 版")
    page.locator("#grant-categories").get_by_label("化验结果").check()
    page.click("#grant")
    expect(page.locator("#grant-status")).to_have_text("完成：已给予同意。")


def test_approve_less_than_asked_narrow_later_and_decline(web_harness, page):
    doctor, clinic = family_doctor(web_harness), web_harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC)
    patient_id = portal_for(web_harness, page)
    ask(doctor, patient_id)
    ask(clinic, patient_id, categories=("imaging",))
    reopen(page)
    card = page.locator("#requests li", has_text=doctor.id)
    card.get_by_role("button", name="Approve less…").click()
    expect(card.get_by_role("button", name="Approve less…")).to_have_attribute("aria-expanded", "true")
    card.locator("fieldset").get_by_label("medicines").uncheck()
    card.locator("fieldset").get_by_label("Until (optional, earlier than asked)").fill("2030-06-30")
    card.get_by_role("button", name="Approve only this").click()
    expect(page.locator("#requests-status")).to_have_text("Done: your answer is recorded.")
    consent = page.locator("#consents li")
    expect(consent).to_contain_text("Which records: discharge summaries, lab results — for your treatment")
    expect(consent).to_contain_text("Until 30 Jun 2030")

    consent.get_by_role("button", name="Narrow").click()
    consent.locator("fieldset").get_by_label("discharge summaries").uncheck()
    consent.get_by_role("button", name="Save the narrower consent").click()
    expect(page.locator("#consents-status")).to_contain_text("Done")
    expect(page.locator("#consents li")).to_contain_text("Which records: lab results — for your treatment")

    page.locator("#requests li", has_text=clinic.id).get_by_role("button", name="Decline").click()
    expect(page.locator("#requests li")).to_have_count(0)
    # The clinic sees its request declined.
    [declined] = clinic.client.consent.ListAccessRequests(consent_pb2.ListAccessRequestsRequest()).requests
    assert declined.status == consent_pb2.ACCESS_REQUEST_STATUS_DECLINED


def test_the_key_cannot_be_read_out_of_the_browser(web_harness, page):
    """The page's own script cannot export the private key it signs with: it only signs in place."""
    portal_for(web_harness, page)
    outcome = page.evaluate("""async () => {
        const keystore = await import("/lib/keystore.js");
        const key = await keystore.load("patient");
        try {
            await crypto.subtle.exportKey("pkcs8", key.privateKey);
            return "exported";
        } catch (error) {
            return `${error.name}; extractable=${key.privateKey.extractable}`;
        }
    }""")
    assert outcome == "InvalidAccessError; extractable=false"
