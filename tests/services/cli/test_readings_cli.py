"""`consentry patient reading add`: each kind of home reading filed as patient-reported, listed
in the patient's records; a reading from the future is refused in one line naming the field."""

from __future__ import annotations

from cli_helpers import ok, one_line, run


def test_each_kind_is_filed_as_patient_reported(story):
    kinds = [["--kind", "bp", "--systolic", "135", "--diastolic", "85"],
             ["--kind", "glucose", "--value", "5.8", "--unit", "mmol/L"],
             ["--kind", "weight", "--value", "72.4", "--at", "2026-01-05T07:30:00+01:00"],
             ["--kind", "heart-rate", "--value", "64"]]
    filed = [ok(run("patient", "reading", "add", *kind, *story["patient"]))[0] for kind in kinds]
    for line in filed:
        assert line.split("\t")[1:4] == ["@patient-reported", "Observation", "vital-signs"]
    listed = ok(run("patient", "records", *story["patient"]))
    assert set(filed) <= set(listed)


def test_a_reading_from_the_future_is_refused_naming_the_field(story):
    refused = one_line(run("patient", "reading", "add", "--kind", "weight", "--value", "70",
                           "--at", "2999-01-01T00:00:00Z", *story["patient"]), "consentry patient: INVALID_ARGUMENT")
    assert "fhir_json.effectiveDateTime" in refused
    one_line(run("patient", "reading", "add", "--kind", "bp", "--systolic", "120", *story["patient"]),
             "consentry patient reading add: Invalid value: --kind bp needs --systolic", code=2)
