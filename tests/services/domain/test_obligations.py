"""Obligations applied to FHIR R4 bodies before encryption; unknown ones fail closed."""

from __future__ import annotations

import json

import pytest
import rfc8785

from consentry.services.domain.obligations import (
    ObligationError,
    UnknownObligation,
    apply_obligations,
    keyed_pseudonym,
    redact,
)

PSEUDO = keyed_pseudonym(b"k" * 32)
# Every direct identifier planted below; none may survive pseudonymisation anywhere in the output.
IDENTIFIERS = ["pat-12345", "MRN-998877", "110101197412250011", "Chalmers", "Peter", "Jim",
               "(03) 5555 6473", "peter@example.org", "534 Erewhon St", "PleasantVille", "3999",
               "1974-12-25", "12-25", "Bénédicte", "Du Marché", "+33 (237) 998327", "photo-bytes",
               "Mother's maiden", "Smith", "ACC-1", "ENC-77"]

PATIENT = {
    "resourceType": "Patient",
    "id": "pat-12345",
    "meta": {"versionId": "1"},
    "text": {"status": "generated", "div": "<div>Peter James Chalmers, MRN-998877</div>"},
    "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-998877"},
                   {"system": "urn:oid:2.16.156.10011.1.1", "value": "110101197412250011"}],
    "active": True,
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
             {"use": "usual", "given": ["Jim"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473"},
                {"system": "email", "value": "peter@example.org"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                  "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
    "deceasedBoolean": False,
    "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
    "photo": [{"contentType": "image/jpeg", "data": "cGhvdG8tYnl0ZXM="}],
    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                   "valueString": "Smith, Mother's maiden"}],
    "contact": [{"relationship": [{"coding": [{"code": "N"}]}],
                 "name": {"family": "Du Marché", "given": ["Bénédicte"]},
                 "telecom": [{"system": "phone", "value": "+33 (237) 998327"}]}],
    "managingOrganization": {"reference": "Organization/1"},
}

OBSERVATION = {
    "resourceType": "Observation",
    "id": "obs-1",
    "identifier": [{"system": "http://lab.example/accession", "value": "ACC-1"}],
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}], "text": "Hemoglobin"},
    "subject": {"reference": "Patient/pat-12345", "display": "Peter Chalmers"},
    "encounter": {"reference": "Encounter/enc-1"},
    "effectiveDateTime": "2026-11-20T08:00:00Z",
    "valueQuantity": {"value": 7.2, "unit": "g/dL"},
    "performer": [{"reference": "Practitioner/dr-1", "display": "Dr Adam Careful"}],
    "note": [{"text": "repeat in a week"}],
}

ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "identifier": [{"value": "ENC-77"}],
    "status": "finished",
    "class": {"code": "IMP"},
    "subject": {"reference": "https://his.hospital-a.example/fhir/Patient/pat-12345/_history/3",
                "identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-998877"}},
}

ALLERGY = {"resourceType": "AllergyIntolerance", "id": "al-1",
           "patient": {"identifier": {"value": "110101197412250011"}, "display": "Jim Chalmers"}}

BUNDLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "link": [{"relation": "self", "url": "https://his.example/fhir/Patient?identifier=MRN-998877"}],
    "entry": [
        {"fullUrl": "https://his.example/fhir/Patient/pat-12345", "resource": PATIENT},
        {"fullUrl": "https://his.example/fhir/Observation/obs-1", "resource": OBSERVATION},
        {"fullUrl": "https://his.example/fhir/Encounter/enc-1", "resource": ENCOUNTER},
        {"resource": ALLERGY, "response": {"location": "Patient/pat-12345/_history/1", "status": "200"}},
    ],
}


def _pseudonymise(doc):
    out, applied = apply_obligations(json.dumps(doc).encode(), {"pseudonymise": True}, pseudonym=PSEUDO)
    assert applied == ["pseudonymise"]
    assert out == rfc8785.dumps(json.loads(out))  # canonical JSON
    return out, json.loads(out)


def _assert_no_identifier(raw: bytes):
    text = raw.decode("utf-8")
    leaked = [i for i in IDENTIFIERS if i in text]
    assert not leaked, f"identifiers survived: {leaked}"


def test_patient_is_pseudonymised():
    raw, p = _pseudonymise(PATIENT)
    _assert_no_identifier(raw)
    assert p["id"] == PSEUDO("pat-12345") and len(p["id"]) == 32
    assert p["birthDate"] == "1974" and "_birthDate" not in p
    for gone in ("identifier", "name", "telecom", "address", "photo", "contact", "extension", "text"):
        assert gone not in p
    assert p["gender"] == "male" and p["managingOrganization"] == {"reference": "Organization/1"}


def test_observation_subject_reference_is_pseudonymised():
    raw, o = _pseudonymise(OBSERVATION)
    _assert_no_identifier(raw)
    assert o["subject"] == {"reference": f"Patient/{PSEUDO('pat-12345')}"}
    assert "identifier" not in o
    # Clinical content and non-patient references stay.
    assert o["valueQuantity"]["value"] == 7.2 and o["code"]["text"] == "Hemoglobin"
    assert o["performer"] == [{"reference": "Practitioner/dr-1", "display": "Dr Adam Careful"}]


def test_bundle_every_entry_is_pseudonymised_consistently():
    raw, b = _pseudonymise(BUNDLE)
    _assert_no_identifier(raw)
    pid = PSEUDO("pat-12345")
    patient, obs, enc, allergy = (e["resource"] for e in b["entry"])
    assert patient["id"] == pid
    assert obs["subject"]["reference"] == f"Patient/{pid}"
    assert enc["subject"] == {"reference": f"https://his.hospital-a.example/fhir/Patient/{pid}"}
    assert allergy["patient"] == {"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}]}
    assert b["entry"][0]["fullUrl"] == f"https://his.example/fhir/Patient/{pid}"
    assert b["entry"][3]["response"]["location"] == f"Patient/{pid}"
    assert "link" not in b


def test_pseudonyms_are_keyed_and_stable():
    assert PSEUDO("a") == PSEUDO("a") != PSEUDO("b")
    assert keyed_pseudonym(b"j" * 32)("a") != PSEUDO("a")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        keyed_pseudonym(b"short")


def test_contained_patient_and_attachment():
    doc = {"resourceType": "DocumentReference", "status": "current",
           "contained": [dict(PATIENT, id="p1")],
           "subject": {"reference": "#p1", "display": "Peter Chalmers"},
           "content": [{"attachment": {"contentType": "application/pdf", "data": "cGhvdG8tYnl0ZXM=",
                                       "title": "discharge letter"}}]}
    raw, d = _pseudonymise(doc)
    _assert_no_identifier(raw)
    assert d["subject"] == {"reference": "#p1"}
    assert d["content"][0]["attachment"] == {"contentType": "application/pdf", "title": "discharge letter"}


def test_conditional_patient_reference_fails_closed():
    doc = {"resourceType": "Observation", "subject": {"reference": "Patient?identifier=MRN-998877"}}
    with pytest.raises(ObligationError):
        apply_obligations(json.dumps(doc).encode(), ["pseudonymise"], pseudonym=PSEUDO)


def test_pseudonymise_needs_a_pseudonym_function():
    with pytest.raises(ObligationError):
        apply_obligations(json.dumps(PATIENT).encode(), ["pseudonymise"])


def test_input_is_not_modified():
    before = json.dumps(BUNDLE, sort_keys=True)
    _pseudonymise(BUNDLE)
    assert json.dumps(BUNDLE, sort_keys=True) == before


# --- redact -----------------------------------------------------------------------------------


def test_redact_typed_paths_and_element_names():
    out, applied = apply_obligations(
        json.dumps(BUNDLE).encode(),
        {"redact": ["Patient.telecom", "Observation.valueQuantity.unit", "note", "*.meta"]},
    )
    assert applied == ["redact"]
    b = json.loads(out)
    patient, obs, enc, _ = (e["resource"] for e in b["entry"])
    assert "telecom" not in patient and "name" in patient  # typed: only what was named
    assert "meta" not in patient
    assert obs["valueQuantity"] == {"value": 7.2}
    assert "note" not in obs
    assert enc["status"] == "finished"


def test_redact_removes_primitive_extension_companions():
    out = redact(PATIENT, ["Patient.birthDate"])
    assert "birthDate" not in out and "_birthDate" not in out


def test_redact_walks_through_lists():
    out = redact(PATIENT, ["Patient.name.given"])
    assert out["name"] == [{"use": "official", "family": "Chalmers"}, {"use": "usual"}]


@pytest.mark.parametrize("paths", [["resourceType"], ["Patient.resourceType"], ["bad path"],
                                   ["Patient."], [""], "note", [1]])
def test_invalid_redact_paths_raise(paths):
    with pytest.raises(ObligationError):
        apply_obligations(json.dumps(PATIENT).encode(), {"redact": paths})


def test_both_obligations_together():
    out, applied = apply_obligations(json.dumps(OBSERVATION).encode(),
                                     {"pseudonymise": True, "redact": ["note"]}, pseudonym=PSEUDO)
    assert applied == ["pseudonymise", "redact"]
    o = json.loads(out)
    assert "note" not in o and o["subject"]["reference"].startswith("Patient/")
    _assert_no_identifier(out)


# --- fail closed ------------------------------------------------------------------------------


@pytest.mark.parametrize("obligations", [{"watermark": True}, ["pseudonymize"], {"notify_patient": True}])
def test_unknown_obligation_raises(obligations):
    with pytest.raises(UnknownObligation):
        apply_obligations(json.dumps(PATIENT).encode(), obligations, pseudonym=PSEUDO)


def test_obligations_handled_elsewhere_pass_through():
    body = json.dumps(PATIENT).encode()
    out, applied = apply_obligations(body, {"notify_patient": True}, handled_elsewhere={"notify_patient"})
    assert out == body and applied == []


def test_no_obligations_returns_the_body_unchanged():
    body = b'{"resourceType": "Observation", "valueQuantity": {"value": 1.50}}'
    assert apply_obligations(body, {}) == (body, [])
    assert apply_obligations(body, {"redact": [], "pseudonymise": False}) == (body, [])


@pytest.mark.parametrize("obligations", [{"pseudonymise": "yes"}, {"redact": "note"}, "pseudonymise",
                                         ["redact"]])
def test_malformed_obligation_values_raise(obligations):
    with pytest.raises(ObligationError):
        apply_obligations(json.dumps(PATIENT).encode(), obligations, pseudonym=PSEUDO)


@pytest.mark.parametrize("body", [b"%PDF-1.7 binary", b"\xff\xfe", b'{"a": NaN}'])
def test_non_json_body_with_obligations_fails_closed(body):
    with pytest.raises(ObligationError):
        apply_obligations(body, ["pseudonymise"], pseudonym=PSEUDO)
