"""The auditor page in Chromium against a real server: checkpoints, consistency and inclusion
verified in the browser against the key the auditor pasted, and failures shown when the server
(or the key) lies."""

from __future__ import annotations

import json
import os
import re
import secrets
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from auditor_page import open_page, ready_auditor, refresh
from playwright.sync_api import expect
from published import VECTORS

from consentry.ledger.checkpoint import NoteSigner, NoteVerifier, add_signatures, sign_checkpoint, sign_note, split_note
from consentry.services.cli.datadir import ledger_signer
from consentry.v1 import audit_pb2

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "img" / "auditor.png"
PHONE_SCREENSHOT = REPO / "docs" / "img" / "auditor-zh-phone.png"


def _flip_in_first_message(body: bytes, at) -> bytes:
    """A gRPC-Web answer whose first message has one byte changed (`at` picks it in the message)."""
    length = struct.unpack(">I", body[1:5])[0]
    message = bytearray(body[5:5 + length])
    index = at(bytes(message))
    message[index] ^= 0x01
    return body[:5] + bytes(message) + body[5 + length:]


def test_verifies_a_checkpoint_its_growth_and_an_inclusion_proof(web_harness, page):
    for _ in range(3):
        web_harness.patient()
    auditor_id = f"audit-{secrets.token_hex(3)}"
    ready_auditor(web_harness, page, auditor_id)
    assert refresh(page).startswith("status ok: Verified: the checkpoint of")
    first = int(page.text_content("#cp-size") or "")
    # The checkpoint the page asked for covers the ledger through the page's own enrolment.
    [enrolled] = [seq for seq, raw in web_harness.entries_by_seq() if auditor_id.encode() in raw
                  and b'"kind":"auditor.enrolled"' in raw]
    assert first == enrolled + 1
    expect(page.locator("#cp-growth")).to_have_text("none")

    row = page.locator("#entries tr[data-seq='1']")
    row.get_by_role("button", name="Verify the inclusion of entry 1").click()
    expect(row.locator("td.result")).to_have_text("Included ✓")

    for _ in range(2):
        web_harness.patient()
    assert re.fullmatch(r"status ok: Verified: .* extends the one of \d+ entries seen before\.", refresh(page))
    grown = int(page.text_content("#cp-size") or "") - first
    assert grown >= 2
    expect(page.locator("#cp-growth")).to_have_text(f"+{grown} entries")
    if os.environ.get("CONSENTRY_WRITE_SCREENSHOTS") == "1":
        page.set_viewport_size({"width": 1000, "height": 900})
        row = page.locator("#entries tr[data-seq='2']")
        row.get_by_role("button").click()
        expect(row.locator("td.result")).to_have_text("Included ✓")
        page.locator("#export").click()
        expect(page.locator("#export-status")).to_have_class("status ok")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_checkpoint_tampered_in_transit_is_a_verification_failure(web_harness, page):
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")

    def tamper(route):
        answer = route.fetch()
        # One bit of the note's first line (the origin) changes; the signature no longer fits.
        body = _flip_in_first_message(answer.body(), lambda m: m.index(b"ledger\n") + 5)
        route.fulfill(response=answer, body=body)

    page.route("**/consentry.v1.AuditService/GetCheckpoint", tamper)
    assert refresh(page) == ("status bad: Verification failed: the signature by consentry.local/ledger "
                             "does not match the note text")
    expect(page.locator("#checkpoint-details")).to_be_hidden()


@pytest.mark.parametrize(("shown", "failure"), [
    (lambda size: size + 1, r"this checkpoint does not extend the one seen before \(a split view\): "
                            r"the proof does not rebuild the new root at size \d+"),
    (lambda size: size - 1, r"the server shows \d+ entries after showing \d+ \(a rollback\)\."),
], ids=["fork", "rollback"])
def test_a_checkpoint_signed_by_the_ledger_key_that_forks_or_rolls_back_is_refused(web_harness, page, shown,
                                                                                    failure):
    """What only the holder of the ledger key can do, a second history: the signature checks, and
    the consistency with the checkpoint the page already trusts does not."""
    for _ in range(3):
        web_harness.patient()
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")
    assert refresh(page).startswith("status ok")
    trusted = int(page.text_content("#cp-size") or "")
    web_harness.patient()
    signer = ledger_signer(web_harness.settings)
    forged = sign_checkpoint(signer, signer.name, shown(trusted), secrets.token_bytes(32))

    def other_history(route):
        answer = route.fetch()
        message = audit_pb2.GetCheckpointResponse(checkpoint=audit_pb2.Checkpoint(note=forged)).SerializeToString()
        trailers = answer.body()[5 + struct.unpack(">I", answer.body()[1:5])[0]:]
        route.fulfill(response=answer, body=struct.pack(">BI", 0, len(message)) + message + trailers)

    page.route("**/consentry.v1.AuditService/GetCheckpoint", other_history)
    assert re.fullmatch(f"status bad: Verification failed: {failure}", refresh(page))
    expect(page.locator("#cp-size")).to_have_text(str(trusted))  # the page still trusts what it verified


def test_an_inclusion_proof_tampered_in_transit_is_refused(web_harness, page):
    for _ in range(3):
        web_harness.patient()
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")
    assert refresh(page).startswith("status ok")
    # The last byte of the answer is the last byte of its last proof hash (field 4 comes last).
    page.route("**/consentry.v1.AuditService/GetInclusionProof",
               lambda route: route.fulfill(response=(a := route.fetch()),
                                           body=_flip_in_first_message(a.body(), lambda m: len(m) - 1)))
    row = page.locator("#entries tr[data-seq='0']")
    row.get_by_role("button").click()
    expect(row.locator("td.result")).to_have_text("Not included: the proof for leaf 0 leads to a different root")


def test_the_wrong_ledger_key_is_a_verification_failure(web_harness, page):
    # Same log name, another key: nothing the server sends can be signed by it.
    other = NoteSigner.generate(web_harness.settings.ledger_origin).verifier.to_key()
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}", verifier_key=other)
    served = NoteVerifier.from_key(web_harness.app.ledger_verifier_key).key_id.hex()
    assert refresh(page) == ("status bad: Verification failed: the note is signed by a key other than the one "
                             f"given: note key id {served}, given key id {NoteVerifier.from_key(other).key_id.hex()}")
    expect(page.locator("#checkpoint-details")).to_be_hidden()


def test_a_checkpoint_of_a_key_handover_verifies_against_either_key(web_harness, page):
    """During a rotation of the ledger key (docs/ledger.md, "Key rotation") each checkpoint carries
    the old and the new key's lines, same name: the page takes it with whichever key was pasted."""
    web_harness.patient()
    new = NoteSigner.generate(web_harness.settings.ledger_origin)

    def handover(route):
        answer = route.fetch()
        length = struct.unpack(">I", answer.body()[1:5])[0]
        reply = audit_pb2.GetCheckpointResponse.FromString(answer.body()[5:5 + length])
        text, _ = split_note(reply.checkpoint.note)
        both = add_signatures(reply.checkpoint.note, split_note(sign_note(text, new))[1])
        reply.checkpoint.note = both
        message = reply.SerializeToString()
        route.fulfill(response=answer, body=struct.pack(">BI", 0, len(message)) + message
                      + answer.body()[5 + length:])

    page.route("**/consentry.v1.AuditService/GetCheckpoint", handover)
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")
    assert refresh(page).startswith("status ok")
    page.fill("#verifier-key", new.verifier.to_key())
    assert refresh(page).startswith("status ok")


def test_a_key_the_operator_has_not_enrolled_is_refused(web_harness, page):
    open_page(web_harness, page)
    page.fill("#auditor-id", "audit-nobody")
    page.click("#create-key")
    page.fill("#verifier-key", web_harness.app.ledger_verifier_key)
    assert "UNAUTHENTICATED" in refresh(page)


def test_the_export_verifies_in_the_browser_and_with_the_cli(web_harness, page, tmp_path):
    for _ in range(3):
        web_harness.patient()
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")
    assert refresh(page).startswith("status ok")
    page.click("#export")
    expect(page.locator("#export-status")).to_have_class("status ok")
    size = page.text_content("#cp-size")
    expect(page.locator("#export-status")).to_have_text(
        f"Export verified: {size} entries chain and rebuild the signed root.")
    for link in ("#download-entries", "#download-checkpoint"):
        with page.expect_download() as download:
            page.click(link)
        download.value.save_as(tmp_path / download.value.suggested_filename)
    verified = subprocess.run(
        [sys.executable, "-m", "consentry.services.cli.main", "audit", "verify", str(tmp_path),
         "--key", web_harness.app.ledger_verifier_key, "--state", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert len((tmp_path / "entries.jsonl").read_bytes().splitlines()) == int(size or "")


def test_keyboard_language_and_a_phone_sized_screen(web_harness, page):
    page.set_viewport_size({"width": 375, "height": 740})
    open_page(web_harness, page)
    page.focus("#auditor-id")
    page.keyboard.type("audit-keys")
    page.keyboard.press("Tab")  # the create button is next in the tab order
    page.keyboard.press("Enter")
    expect(page.locator("#key-id")).to_have_text(re.compile(r"ed25519:[0-9a-f]{16}"))
    page.get_by_role("button", name="中文 / English").click()
    expect(page.locator("h1")).to_have_text("Consentry 审计账本核验")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    if os.environ.get("CONSENTRY_WRITE_SCREENSHOTS") == "1":
        page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)
    page.reload()  # the choice is remembered, and so is the key (IndexedDB)
    expect(page.locator("#create-key")).to_have_text("更换密钥")


def test_the_merkle_module_passes_the_published_rfc6962_vectors(web_harness, page):
    open_page(web_harness, page)  # a secure context (http on 127.0.0.1), where WebCrypto exists
    cases = []
    for kind in ("inclusion", "consistency"):
        for path in sorted((VECTORS / "merkle" / kind).glob("*/*.json")):
            case = json.loads(path.read_text())
            # As strings: one vector's index is 2^64 - 1, past what a JS number holds.
            for name in ("leafIdx", "treeSize", "size1", "size2"):
                if name in case:
                    case[name] = str(case[name])
            cases.append({"kind": kind, "name": str(path.relative_to(VECTORS)), **case})
    assert len(cases) > 160
    outcomes = page.evaluate("""async (cases) => {
        const m = await import("/lib/merkle.js");
        const { fromBase64 } = await import("/lib/bytes.js");
        const b = (text) => (text ? fromBase64(text) : new Uint8Array(0));
        const out = {};
        for (const c of cases) {
            try {
                if (c.kind === "inclusion") {
                    await m.verifyInclusion(b(c.leafHash), BigInt(c.leafIdx), BigInt(c.treeSize),
                                            (c.proof || []).map(b), b(c.root));
                } else {
                    await m.verifyConsistency(BigInt(c.size1), BigInt(c.size2), b(c.root1), b(c.root2),
                                              (c.proof || []).map(b));
                }
                out[c.name] = "accepted";
            } catch (error) {
                out[c.name] = error instanceof m.ProofError ? "refused" : "crashed: " + error;
            }
        }
        return out;
    }""", cases)
    expected = {c["name"]: "refused" if c["wantErr"] else "accepted" for c in cases}
    assert outcomes == expected


def test_entries_are_browsed_page_by_page(web_harness, page):
    while len(web_harness.raw_ledger()) < 25:
        web_harness.patient()
    ready_auditor(web_harness, page, f"audit-{secrets.token_hex(3)}")
    assert refresh(page).startswith("status ok")
    rows = page.locator("#entries tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-seq", "0")
    page.get_by_role("button", name="Next").click()
    expect(rows.first).to_have_attribute("data-seq", "20")
    row = page.locator("#entries tr[data-seq='21']")
    row.get_by_role("button").click()
    expect(row.locator("td.result")).to_have_text("Included ✓")
    page.get_by_role("button", name="Previous").click()
    expect(rows.first).to_have_attribute("data-seq", "0")
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
