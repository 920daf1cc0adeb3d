"""`consentry org key rotate | records | erase` and `operator enrol-auditor`: an institution
replaces its identity key with the CLI and goes on with the new one; it erases a record it holds;
the patient approves a request narrowed; an auditor enrolled by the CLI reads the ledger."""

from __future__ import annotations

import re

from cli_helpers import ok, one_line, run

from consentry.services.cli.demo import discharge_records


def test_an_institution_rotates_its_identity_key(story):
    d, ids = story["dir"], story["ids"]
    ok(run("org", "key", "new", "--out", str(d / "hospital-2.key"), "--encryption-out", str(d / "hospital-2.x25519")))
    rotated = ok(run("org", "key", "rotate", "--new-key", str(d / "hospital-2.key"), *story["hospital"]))
    by_status = sorted(line.split("\t")[1:] for line in rotated)
    assert by_status == [["encryption", "current"], ["identity", "current"], ["identity", "retired"]]
    with_new_key = [*story["hospital"]]
    with_new_key[1] = str(d / "hospital-2.key")
    assert ok(run("org", "records", "--patient", ids["patient"], *with_new_key)) == []
    # Key management needs the current key: the retired one cannot rotate again.
    one_line(run("org", "key", "rotate", "--encryption", "--new-key", str(d / "hospital-2.x25519"),
                 *story["hospital"]), "consentry org: UNAUTHENTICATED: ")
    rotated = ok(run("org", "key", "rotate", "--encryption", "--new-key", str(d / "hospital-2.x25519"),
                     *with_new_key))
    assert sorted(line.split("\t")[1:] for line in rotated).count(["encryption", "current"]) == 1

    old = next(line.split("\t")[0] for line in rotated if line.endswith("\tidentity\tretired"))
    revoked = ok(run("org", "key", "revoke", old, "--reason", "laptop lost", *with_new_key))
    assert f"{old}\tidentity\trevoked" in revoked
    one_line(run("org", "records", "--patient", ids["patient"], *story["hospital"]),
             "consentry org: UNAUTHENTICATED: ")
    listed = ok(run("operator", "institutions", *story["operator"]))
    assert f"{ids['hospital']}\thospital\thospital" in listed and f"{ids['doctor']}\tfamily-doctor\tdoctor" in listed


def test_the_holder_erases_a_record_and_the_patient_approves_narrowed(story):
    d, ids = story["dir"], story["ids"]
    hospital = [*story["hospital"]]
    hospital[1] = str(d / "hospital-2.key") if (d / "hospital-2.key").exists() else hospital[1]
    (d / "note.json").write_bytes(discharge_records(ids["patient"])["medication list"])
    record_id = ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(d / "note.json"),
                       *hospital))[0].split("\t")[0]
    erased = ok(run("org", "erase", record_id, "--reason", "deposited for the wrong patient", *hospital))
    assert erased[0].startswith(f"{record_id}\t{ids['hospital']}\tMedicationRequest\t-\t-\terased\tledger #")
    # Erasure takes the patient id off the record too: it is no longer the patient's (docs/erasure.md).
    listed = ok(run("org", "records", "--patient", ids["patient"], *hospital))
    assert record_id not in [line.split("\t")[0] for line in listed]

    asked = ok(run("org", "request-access", "--patient", ids["patient"], "--category", "medication",
                   "--category", "lab", "--purpose", "TREAT", "--days", "60", "--reason", "review",
                   "--notice", story["notices"]["doctor"], *story["doctor"]))
    approved = ok(run("patient", "approve", asked[-1].split("\t")[0], "--category", "lab", *story["patient"]))
    assert re.search(r"\tlab for TREAT until \d{4}-", approved[-1]), approved


def test_the_operator_enrols_an_auditor_who_reads_the_ledger(story, harness):
    d = story["dir"]
    public = ok(run("patient", "key", "new", "--out", str(d / "auditor.key")))[0]
    enrolled = ok(run("operator", "enrol-auditor", "--id", f"cli-ombudsman-{story['ids']['patient'][-6:]}",
                      "--identity-public-key", public, *story["operator"]))
    assert enrolled[0].startswith("enrolled auditor:cli-ombudsman-")
    exported = run("audit", "export", "--target", harness.target, "--identity", str(d / "auditor.key"),
                   "--principal", enrolled[0].split()[1], "--out", str(d / "ledger"), "--state",
                   str(d / "trusted.note"), "--data-dir", str(harness.settings.data_dir))
    assert exported.returncode == 0, exported.stderr
    assert (d / "ledger" / "entries.jsonl").read_bytes().count(b"\n") > 10
    one_line(run("operator", "enrol-auditor", "--id", "x", "--identity-public-key", "not base64",
                 *story["operator"]), "consentry operator enrol-auditor: ", code=2)
