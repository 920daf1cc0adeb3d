"""`consentry patient`: a proxy, named by the patient, grants and narrows for them with `--for`; a
declined request reaches the institution; `patient watch` prints each new access and request
as it commits and `org watch` each decision and consent change;
a removed proxy is refused in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from cli_helpers import CONSENTRY, enrol_patient, ok, one_line, run

from consentry.services.cli.demo import discharge_records


def _deposit(story, title: str) -> str:
    path = story["dir"] / f"{title.replace(' ', '-')}.json"
    path.write_bytes(discharge_records(story["ids"]["patient"])[title])
    return ok(run("org", "deposit", "--patient", story["ids"]["patient"], "--file", str(path),
                  *story["hospital"]))[0].split("\t")[0]


def test_a_proxy_acts_for_the_patient_until_removed(story):
    ids = story["ids"]
    daughter = enrol_patient(story, f"{ids['patient']}-daughter")
    for_patient = [*daughter, "--for", ids["patient"]]
    added = ok(run("patient", "proxy", "add", "--proxy", f"{ids['patient']}-daughter", "--scope", "manage-consents",
                   "--scope", "read-history", "--relationship", "daughter", "--days", "30", *story["patient"]))
    assert added[0].split("\t")[:4] == [f"{ids['patient']}-daughter", "active", "manage-consents,read-history",
                                        "daughter"]
    assert ok(run("patient", "proxy", "list", *story["patient"])) == added

    granted = ok(run("patient", "grant", "--to", ids["doctor"], "--category", "medication", "--category", "lab",
                     "--purpose", "TREAT", "--days", "90", "--notice", story["notices"]["doctor"], *for_patient))
    consent_id = granted[-1].split("\t")[0]
    narrowed = ok(run("patient", "narrow", consent_id, "--category", "lab", "--purpose", "TREAT", *for_patient))
    assert narrowed[0].split("\t")[:5] == [consent_id, "v2", "active", "treatment", ids["doctor"]]
    assert "\tlab for TREAT until " in narrowed[0]
    exported = json.loads(run("patient", "export", consent_id, *for_patient).stdout)
    assert exported["resourceType"] == "Consent" and exported["status"] == "active"
    (story["dir"] / "consent.json").write_text(json.dumps(exported))
    imported = ok(run("patient", "import", "--file", str(story["dir"] / "consent.json"),
                      "--notice", story["notices"]["doctor"] + ":1", *story["patient"]))
    assert imported[-1].split("\t")[1:5] == ["v1", "active", "treatment", ids["doctor"]]
    assert imported[-1].split("\t")[0] != consent_id
    ok(run("patient", "revoke", imported[-1].split("\t")[0], *story["patient"]))
    shown = ok(run("patient", "show", consent_id, *story["patient"]))
    assert [line.split("\t")[1:3] for line in shown] == [["v1", "superseded"], ["v2", "active"]]

    record_id = _deposit(story, "lab results")
    held = ok(run("patient", "records", *for_patient))
    assert f"{record_id}\t{ids['hospital']}\tObservation\tlab\t-" in held

    ok(run("patient", "proxy", "remove", "--proxy", f"{ids['patient']}-daughter", *story["patient"]))
    assert ok(run("patient", "proxy", "list", *story["patient"]))[0].split("\t")[1] == "inactive"
    one_line(run("patient", "history", *for_patient), "consentry patient: PERMISSION_DENIED: ")


def test_a_declined_request_reaches_the_institution(story):
    ids = story["ids"]
    asked = ok(run("org", "request-access", "--patient", ids["patient"], "--category", "medication",
                   "--purpose", "TREAT", "--reason", "medication review", "--notice", story["notices"]["doctor"],
                   *story["doctor"]))
    request_id = asked[-1].split("\t")[0]
    declined = ok(run("patient", "decline", request_id, "--reason", "not now", *story["patient"]))
    assert declined[0].split("\t")[:2] == [request_id, "declined"]
    theirs = {line.split("\t")[0]: line.split("\t")[1] for line in ok(run("org", "requests", *story["doctor"]))}
    assert theirs[request_id] == "declined"
    one_line(run("patient", "approve", request_id, *story["patient"]), "consentry patient: FAILED_PRECONDITION: ")


def _watching(*args: str) -> subprocess.Popen:
    watch = subprocess.Popen([*CONSENTRY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # the command has started and its stream is open
    return watch


def _stopped(watch: subprocess.Popen) -> list[str]:
    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    return out.splitlines()


def test_watch_prints_each_new_access_request_and_change_as_it_commits(story):
    ids = story["ids"]
    watch = _watching("patient", "watch", *story["patient"])
    org_watch = _watching("org", "watch", *story["doctor"])
    try:
        record_id = _deposit(story, "medication list")
        ok(run("patient", "grant", "--to", ids["doctor"], "--category", "medication", "--purpose", "TREAT",
               "--notice", story["notices"]["doctor"], *story["patient"]))
        ok(run("org", "fetch", "--out", str(story["dir"] / "watched"), "--record", record_id, *story["fetch"],
               *story["doctor"]))
        asked = ok(run("org", "request-access", "--patient", ids["patient"], "--category", "lab",
                       "--purpose", "TREAT", "--reason", "lab follow-up", "--notice", story["notices"]["doctor"],
                       *story["doctor"]))
        request_id = asked[-1].split("\t")[0]
        ok(run("patient", "decline", request_id, "--reason", "not now", *story["patient"]))
        time.sleep(2)
    finally:
        lines, changes = _stopped(watch), _stopped(org_watch)
    assert any(f"\tshared\t{ids['doctor']}\tdr-chen\tTREAT\tmedication\t{record_id}" in line for line in lines), lines
    assert f"request\t{asked[-1]}" in lines, lines
    assert len(lines) == len(set(lines)), "each event printed once"
    kinds = [(line.split("\t")[2], line.split("\t")[3]) for line in changes]
    assert kinds == [("consent-granted", ids["patient"]), ("request-declined", ids["patient"])], changes
    assert changes[1].split("\t")[4] == request_id
