"""`consentry operator enrolment-code` prints a one-time code; `consentry patient redeem CODE
--key FILE` registers that key with it, once; a second use is refused in one line."""

from __future__ import annotations

import secrets

from cli_helpers import ok, one_line, run


def test_the_operator_prints_a_code_the_patient_redeems_once(story):
    d, patient_id = story["dir"], f"cli-new-{secrets.token_hex(3)}"
    lines = ok(run("operator", "enrolment-code", patient_id, *story["operator"]))
    code = lines[0]
    assert len(code) == 14 and code.count("-") == 2 and lines[1].startswith("expires ")
    ok(run("patient", "key", "new", "--out", str(d / "new-device.key")))
    got = ok(run("patient", "redeem", code, "--key", str(d / "new-device.key"), *story["server"]))
    assert got[0].startswith(f"enrolled patient:{patient_id} with key ed25519:")
    ok(run("patient", "consents", "--key", str(d / "new-device.key"), "--as", f"patient:{patient_id}",
           *story["server"]))
    one_line(run("patient", "redeem", code, "--key", str(d / "new-device.key"), *story["server"]),
             "consentry patient: PERMISSION_DENIED: this enrolment code is not valid")
