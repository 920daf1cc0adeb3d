"""The holder's side of patients' rights by the `consentry` command alone: it moves a request on
and refuses it with a reason code, accepts a correction with the amended record (the family doctor
that received the old version sees the notice), and the operator ends a next-of-kin standing."""

from __future__ import annotations

import json

from cli_helpers import ok, one_line, run

from consentry.services.cli.demo import discharge_records


def rights_as(story: dict, who: str) -> list[str]:
    """`consentry rights` names its signer with --identity/--principal (and the acting practitioner)."""
    key, principal, role, practitioner = story[who][1:8:2]
    return [*story["server"], "--identity", key, "--principal", principal, "--acting-role", role,
            "--acting-practitioner", practitioner]


def test_the_holder_answers_requests_and_corrections(story, tmp_path):
    d, ids = story["dir"], story["ids"]
    lab = discharge_records(ids["patient"])["lab results"]
    (tmp_path / "lab.json").write_bytes(lab)
    record_id = ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(tmp_path / "lab.json"),
                       *story["hospital"]))[0].split("\t")[0]
    ok(run("patient", "grant", "--to", ids["doctor"], "--category", "lab", "--purpose", "TREAT", "--days", "30",
           "--notice", story["notices"]["doctor"], *story["patient"]))
    ok(run("org", "fetch", "--out", str(tmp_path / "old"), *story["fetch"], *story["doctor"]))
    as_patient = [*story["server"], "--identity", str(d / "patient.key"), "--principal", f"patient:{ids['patient']}"]
    hospital = rights_as(story, "hospital")

    filed = ok(run("rights", "file", "--patient", ids["patient"], "--type", "restriction",
                   "--holder", ids["hospital"], *as_patient))[0].split("\t")
    assert filed[1:3] == ["restriction", "received"]
    moved = ok(run("rights", "answer", filed[0], "--status", "in-progress", *hospital))[0].split("\t")
    assert moved[:3] == [filed[0], "restriction", "in_progress"]
    refused = ok(run("rights", "answer", filed[0], "--status", "refused", "--refusal-reason", "legal-retention",
                     "--explanation", "kept 30 years by law", *hospital))[0]
    assert "\trefused\t" in refused and refused.endswith("\trefused: legal-retention")
    one_line(run("rights", "answer", filed[0], "--status", "done", *hospital), "consentry rights: --status ")

    asked = ok(run("rights", "correct", "--patient", ids["patient"], "--record", record_id, "--reason", "inaccurate",
                   "--text", "the CRP was 1.2, not 12", *as_patient))[0].split("\t")
    amended = json.loads(lab)
    amended["valueQuantity"]["value"] = 1.2
    (tmp_path / "amended.json").write_text(json.dumps(amended))
    answered = ok(run("rights", "answer-correction", asked[0], "--accept", str(tmp_path / "amended.json"), *hospital))
    assert "\tcompleted\t" in answered[0] and answered[1] == "notified 1 institution(s) that received the old version"
    notices = [line.split("\t") for line in ok(run("rights", "recipient-notices", *rights_as(story, "doctor")))]
    assert [(n[1], n[2]) for n in notices] == [("record.amended", record_id)] and notices[0][3]
    both = run("rights", "answer-correction", asked[0], "--accept", str(tmp_path / "amended.json"),
               "--refusal-reason", "other", *hospital)
    one_line(both, "consentry rights: give --accept FILE or --refusal-reason CODE")


def test_the_operator_lists_and_ends_a_representative(story, tmp_path):
    ids = story["ids"]
    kin = "cli-kin-" + ids["patient"].rsplit("-", 1)[1]
    public = ok(run("patient", "key", "new", "--out", str(tmp_path / "kin.key")))[0]
    ok(run("operator", "enrol-patient", "--id", kin, "--identity-public-key", public, *story["operator"]))
    (tmp_path / "certificate.pdf").write_bytes(b"a death certificate")
    ok(run("rights", "representative", "--patient", ids["patient"], "--representative", kin, "--basis", "next-of-kin",
           "--evidence-type", "death-certificate", "--evidence", str(tmp_path / "certificate.pdf"),
           *story["operator"]))
    listed = [line.split("\t") for line in ok(run("rights", "representatives", "--patient", ids["patient"],
                                                  *story["operator"]))]
    assert [(r[0], r[1], r[2], r[4]) for r in listed] == [(kin, "next-of-kin", "death-certificate", "active")]
    ended = ok(run("rights", "end-representative", "--patient", ids["patient"], "--representative", kin,
                   *story["operator"]))[0].split("\t")
    assert ended[0] == kin and ended[4].startswith("ended ")
    as_kin = [*story["server"], "--identity", str(tmp_path / "kin.key"), "--principal", f"patient:{kin}"]
    one_line(run("rights", "requests", "--patient", ids["patient"], *as_kin), "consentry rights: PERMISSION_DENIED: ")
