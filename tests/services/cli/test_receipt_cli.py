"""`consentry patient grant/narrow/revoke --receipt-out` writes the signed receipt once it verifies;
`consentry receipt verify` checks one offline in one line; `consentry patient preview` prints what
a grant would share and withhold."""

from __future__ import annotations

import base64
import json

from cli_helpers import ok, one_line, run

from consentry.services.cli.demo import discharge_records


def test_receipts_are_written_and_verified(harness, story):
    ids, d = story["ids"], story["dir"]
    key = ["--service-key", base64.b64encode(bytes(harness.service_key)).decode()]
    granted = ok(run("patient", "grant", "--to", ids["doctor"], "--category", "lab", "--category", "medication",
                     "--purpose", "TREAT", "--notice", story["notices"]["doctor"], *key,
                     "--receipt-out", str(d / "grant.json"), *story["patient"]))
    consent_id = granted[-1].split("\t")[0]
    ok(run("patient", "narrow", consent_id, "--category", "lab", *key, "--receipt-out", str(d / "narrow.json"),
           *story["patient"]))
    ok(run("patient", "revoke", consent_id, *key, "--receipt-out", str(d / "revoke.json"), *story["patient"]))
    for name, change, terms in (("grant", "grant", "lab,medication"), ("narrow", "narrowing", "lab"),
                                ("revoke", "revocation", "lab")):
        [line] = ok(run("receipt", "verify", str(d / f"{name}.json"), *key))
        assert line.startswith(f"{change}\t{consent_id}\t")
        assert f"{ids['patient']} -> {ids['doctor']} (signed by patient)" in line and f" {terms} for TREAT" in line
    receipt = json.loads((d / "grant.json").read_text())
    statement = bytearray(base64.b64decode(receipt["statement"]))
    statement[10] ^= 1
    (d / "tampered.json").write_text(json.dumps({**receipt, "statement": base64.b64encode(statement).decode()}))
    one_line(run("receipt", "verify", str(d / "tampered.json"), *key), "consentry receipt: the receipt's signature")
    (d / "junk.json").write_text("{not json")
    one_line(run("receipt", "verify", str(d / "junk.json"), *key), "consentry receipt: ")
    one_line(run("patient", "revoke", consent_id, "--receipt-out", str(d / "x.json"), *story["patient"]),
             "consentry patient revoke: ", code=2)

    listed = ok(run("receipt", "list", consent_id, *key, "--out", str(d / "all"), *story["patient"]))
    assert [line.split("\t")[0] for line in listed] == ["grant", "narrowing", "revocation"]
    by_doctor = ok(run("receipt", "list", consent_id, *key, *story["doctor"]))
    assert by_doctor == listed  # the grantee holds the same signed receipts
    written = sorted((d / "all").iterdir())
    assert [p.name.rsplit("-", 1)[1] for p in written] == ["grant.json", "narrowing.json", "revocation.json"]
    assert json.loads(written[0].read_text()) == json.loads((d / "grant.json").read_text())
    one_line(run("receipt", "list", consent_id, *key, *story["hospital"]), "consentry receipt: NOT_FOUND: ")


def test_preview_prints_shared_and_withheld_counts(story):
    ids, d = story["ids"], story["dir"]
    path = d / "psychiatric-note.json"
    path.write_bytes(discharge_records(ids["patient"])["psychiatric note"])
    ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(path), "--category", "mental-health",
           *story["hospital"]))
    lines = ok(run("patient", "preview", "--to", ids["doctor"], "--category", "*", "--purpose", "TREAT",
                   *story["patient"]))
    assert lines[-1].startswith("ledger #")
    withheld = [line for line in lines if line.startswith("withheld\t")]
    assert any("\tmental-health\t" in line and "sensitive" in line for line in withheld)
