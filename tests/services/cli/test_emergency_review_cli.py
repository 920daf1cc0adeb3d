"""The break-the-glass path by the `consentry` command alone: the hospital fetches in an
emergency, the patient reads the notice and the justification, an auditor finds it in the review
queue and records an outcome; a second review and a bad outcome are one-line refusals."""

from __future__ import annotations

import secrets

from cli_helpers import ok, one_line, run

from consentry.services.cli.demo import discharge_records


def test_an_emergency_access_is_noticed_read_and_reviewed(story, tmp_path):
    d, ids = story["dir"], story["ids"]
    (d / "emergency-summary.json").write_bytes(discharge_records(ids["patient"])["discharge summary"])
    ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(d / "emergency-summary.json"),
           *story["hospital"]))
    justification = "unconscious on arrival, allergy history needed"
    fetch = [*story["fetch"][:2], "--purpose", "ETREAT", *story["fetch"][4:]]
    ok(run("org", "fetch", "--out", str(tmp_path / "got"), "--emergency", justification, *fetch, *story["doctor"]))

    notices = ok(run("patient", "notices", "--unread", *story["patient"]))
    emergency = [line.split("\t") for line in notices if line.split("\t")[1] == "emergency-access"]
    assert len(emergency) == 1 and emergency[0][4] == "unread"
    emergency_id = emergency[0][2]
    marked = ok(run("patient", "notices", "--unread", "--mark-read", *story["patient"]))
    assert marked[-1] == f"marked {len(marked) - 1} notice(s) read"
    assert ok(run("patient", "notices", "--unread", *story["patient"])) == []

    shown = ok(run("patient", "emergency", emergency_id, *story["patient"]))
    assert shown[0] == f"emergency: {emergency_id}"
    assert shown[1] == f"by: {ids['doctor']} (dr-chen, physician)"
    assert f"justification: {justification}" in shown
    assert shown[5].startswith("review: pending, due ")

    auditor = f"cli-auditor-{secrets.token_hex(3)}"
    public = ok(run("patient", "key", "new", "--out", str(tmp_path / "auditor.key")))[0]
    ok(run("operator", "enrol-auditor", "--id", auditor, "--identity-public-key", public, *story["operator"]))
    as_auditor = [*story["server"], "--identity", str(tmp_path / "auditor.key"), "--principal", f"auditor:{auditor}"]
    queue = [line.split("\t") for line in ok(run("audit", "emergencies", "--pending", *as_auditor))]
    mine = [row for row in queue if row[0] == emergency_id]
    assert mine and mine[0][1:3] == [ids["doctor"], "dr-chen"] and mine[0][5].startswith("due ")

    reviewed = ok(run("audit", "review", emergency_id, "--outcome", "justified", "--comment", "checked the chart",
                      *as_auditor))
    assert reviewed[5].startswith(f"review: justified by auditor:{auditor} at ")
    assert reviewed[-1] == "review comment: checked the chart"
    assert emergency_id not in ok(run("audit", "emergencies", "--pending", *as_auditor))
    again = run("audit", "review", emergency_id, "--outcome", "not-justified", *as_auditor)
    one_line(again, "consentry audit: FAILED_PRECONDITION: ")
    bad = run("audit", "review", emergency_id, "--outcome", "fine", *as_auditor)
    one_line(bad, "consentry audit review: ", code=2)
    patient_refused = run("audit", "emergencies", *story["server"], "--identity", str(d / "patient.key"),
                          "--principal", f"patient:{ids['patient']}")
    one_line(patient_refused, "consentry audit: PERMISSION_DENIED: ")
