"""The patient portal in Chromium against a real server, the whole story through the browser: a
patient enrolled from a key made in the page, a hospital's deposit, a family doctor's request
approved with the keyboard alone, the doctor's fetch appearing in the history without a reload,
a revocation that refuses the next fetch, a break-the-glass alert, and a proxy acting within the
scopes the patient gave and refused beyond them."""

from __future__ import annotations

import re
import secrets

import grpc
import pytest
from playwright.sync_api import expect
from portal_page import (
    REASON,
    ask,
    deposit,
    enrol,
    family_doctor,
    fetched,
    open_portal,
    open_records,
    portal_for,
    reopen,
    tab_to,
)


def test_approved_by_keyboard_then_fetched_live_then_revoked(web_harness, page):
    hospital, doctor = web_harness.org(prefix="hospital"), family_doctor(web_harness)
    patient_id = portal_for(web_harness, page)
    deposit(hospital, patient_id)
    ask(doctor, patient_id)

    # The request appears without a reload (the live feed, or the page's own polling).
    card = page.locator("#requests li")
    expect(card).to_have_count(1, timeout=15_000)
    expect(card).to_contain_text(f"{doctor.id} asks to see some of your records")
    expect(card).to_contain_text(f"Why: {REASON}")
    expect(card).to_contain_text("Which records: discharge summaries, lab results, medicines — for your treatment")
    card.locator("summary").click()
    expect(card.locator(".notice")).to_contain_text(f"{doctor.id} Ltd.")  # the notice, its hash checked

    page.locator("#open").focus()
    tab_to(page, "Approve")
    page.keyboard.press("Enter")
    expect(page.locator("#requests-status")).to_have_text("Done: your answer is recorded.")
    expect(page.locator("#requests-status")).to_be_focused()
    expect(page.locator("#requests li")).to_have_count(0)
    expect(page.locator("#consents li")).to_have_count(1)

    expect(page.locator("#live-status")).to_have_text("Live: new accesses appear here as they happen.")
    got = fetched(web_harness, doctor, patient_id)
    assert sum(1 for item in got if item.body) == 3
    rows = page.locator("#history tr")
    expect(rows).to_have_count(3, timeout=15_000)
    expect(rows.first).to_contain_text(doctor.id)
    expect(rows.first).to_contain_text("shared")
    expect(page.locator("#history-announce")).to_contain_text("New:")

    page.locator("#consents li").get_by_role("button", name="Revoke").click()
    expect(page.locator("#consents-status")).to_contain_text("Done")
    with pytest.raises(grpc.RpcError) as refused:
        fetched(web_harness, doctor, patient_id)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    expect(page.locator("#history td.refused").first).to_be_visible(timeout=15_000)


def test_a_break_the_glass_fetch_raises_the_alert(web_harness, page):
    hospital = web_harness.org(prefix="er")
    patient_id = portal_for(web_harness, page)
    deposit(hospital, patient_id)
    expect(page.locator("#alert")).to_be_hidden()
    got = fetched(web_harness, hospital, patient_id, "ETREAT", emergency="unconscious on arrival")
    assert any(item.body for item in got)
    alert = page.locator("#alert")
    expect(alert).to_be_visible(timeout=15_000)
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(f"Emergency access: {hospital.id} opened your records without your consent")
    expect(alert).to_contain_text("declaring an emergency: “unconscious on arrival”")
    expect(page.locator("#history tr.emergency").first).to_contain_text("EMERGENCY")

    # Until it is marked seen, the alert greets the patient whenever the page opens.
    open_portal(web_harness, page)
    open_records(page, patient_id)
    expect(alert).to_be_visible()
    with page.expect_response("**/consentry.v1.ConsentService/MarkNoticesRead"):
        page.get_by_role("button", name="I have seen this").click()
    expect(alert).to_be_hidden()
    open_portal(web_harness, page)
    open_records(page, patient_id)
    expect(page.locator("#history tr.emergency").first).to_be_visible()
    expect(alert).to_be_hidden()


def test_a_proxy_acts_within_the_scopes_given_and_is_refused_beyond_them(web_harness, page, chromium):
    doctor = family_doctor(web_harness)
    father = portal_for(web_harness, page)
    daughter_context = chromium.new_context(locale="en-GB")
    try:
        daughter = daughter_context.new_page()
        open_portal(web_harness, daughter)
        daughter_id = enrol(web_harness, daughter)

        # The father names her for his consents only, not his history.
        page.fill("#proxy-id", daughter_id)
        page.fill("#proxy-relationship", "daughter")
        page.get_by_label("See the access history").uncheck()
        page.click("#add-proxy")
        expect(page.locator("#proxies-status")).to_have_text(f"{daughter_id} may now act for you as ticked.")
        expect(page.locator("#proxies li")).to_contain_text("Answer requests and manage consents")

        ask(doctor, father, categories=("lab",))
        open_records(daughter, father)
        expect(daughter.locator("#open-status")).to_have_text(
            f"You ({daughter_id}) are acting for patient {father}, within what they allowed you.")
        card = daughter.locator("#requests li")
        expect(card).to_have_count(1)
        card.get_by_role("button", name="Approve", exact=True).click()
        expect(daughter.locator("#consents li")).to_have_count(1)
        reopen(page)  # the father's page, read again
        expect(page.locator("#requests li")).to_have_count(0)
        expect(page.locator("#consents li")).to_contain_text("lab results")

        # Beyond her scopes: the history and the proxies are refused, in one sentence each.
        expect(daughter.locator("#history-status")).to_have_text(
            re.compile(r"^Refused \(you may not do this\): .+"))
        expect(daughter.locator("#proxies-status")).to_have_text(re.compile(r"^Refused \(you may not do this\)"))

        # Removed, she can do nothing more for him.
        page.locator("#proxies li").get_by_role("button", name=f"Remove {daughter_id}").click()
        expect(page.locator("#proxies-status")).to_have_text(f"{daughter_id} may no longer act for you.")
        open_records(daughter, father)
        expect(daughter.locator("#consents-status")).to_have_text(re.compile(r"^Refused \(you may not do this\)"))
    finally:
        daughter_context.close()


def test_an_unenrolled_key_is_told_so_in_one_sentence(web_harness, page):
    open_portal(web_harness, page)
    page.fill("#my-id", f"P{secrets.token_hex(5)}")
    page.click("#create-key")
    open_records(page, page.input_value("#my-id"), expected="status (ok|bad)")
    expect(page.locator("#requests-status")).to_have_text(
        "Refused (your key was not accepted (is it enrolled for this id?)): "
        + page.text_content("#requests-status").split("): ", 1)[1])
