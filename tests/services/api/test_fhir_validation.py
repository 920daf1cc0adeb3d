"""Deposits are valid FHIR R4 or refused: INVALID_ARGUMENT naming each failing element by its
path, never a value nor a member name the body chose, with nothing filed and only the refusal
ledgered (docs/labelling.md, "Valid FHIR")."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import field_violations

from consentry.services.cli.demo import discharge_records
from consentry.services.domain.fhir_validation import NO_MODEL, WHY
from consentry.v1 import exchange_pb2

WRONG_FORMAT = "does not have the FHIR R4 type or format of this element"
SECRET = "SECRET-VALUE-7731"


@pytest.fixture(scope="module")
def holder(harness):
    return harness.org(), harness.patient()


def refused(harness, hospital, patient, resource: dict) -> dict[str, str]:
    """Deposits `resource`, which must be refused; returns its violations, after checking that
    nothing was filed and the one refusal entry names no value of the body."""
    records = harness.sql("SELECT count(*) FROM records")[0][0]
    seen = len(harness.entries())
    with pytest.raises(grpc.RpcError) as err:
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=json.dumps(resource).encode()))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert harness.sql("SELECT count(*) FROM records")[0][0] == records
    [refusal] = [e for e in harness.entries()[seen:] if e["kind"] == "call.refused"]
    assert refusal["status"] == "INVALID_ARGUMENT"
    assert SECRET not in json.dumps(refusal) and SECRET not in (err.value.details() or "")
    return field_violations(err.value)


def observation(patient_id: str, **elements) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "CRP"},
            "subject": {"reference": f"Patient/{patient_id}"}, **elements}


def test_an_observation_without_code_or_with_a_bogus_status_is_refused(harness, holder):
    hospital, patient = holder
    no_code = observation(patient.id)
    del no_code["code"]
    assert refused(harness, hospital, patient, no_code) == {"fhir_json.code": WHY["missing"]}
    assert refused(harness, hospital, patient, observation(patient.id, status="bogus")) == {
        "fhir_json.status": WHY["code"]}


def test_a_condition_with_an_unknown_element_and_a_bad_date_names_both_and_neither_value(harness, holder):
    hospital, patient = holder
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient.id}"},
                 "onsetDateTime": SECRET, SECRET: "x"}
    assert refused(harness, hospital, patient, condition) == {
        "fhir_json.onsetDateTime": WRONG_FORMAT, "fhir_json": WHY["extra_forbidden"]}


def test_paths_lead_into_bundle_entries_and_choice_elements(harness, holder):
    hospital, patient = holder
    several = observation(patient.id, valueString=SECRET, valueBoolean=True)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": observation(patient.id)},
        {"resource": {**observation(patient.id), "code": [SECRET]}},
        {"resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                      "subject": {"reference": f"Patient/{patient.id}"}}},
    ]}
    assert refused(harness, hospital, patient, several) == {"fhir_json.value[x]": WHY["choice"]}
    assert refused(harness, hospital, patient, bundle) == {
        "fhir_json.entry[1].resource.code": WRONG_FORMAT,
        "fhir_json.entry[2].resource.medication[x]": WHY["missing"]}


@pytest.mark.parametrize("resource_type", ["MedicinalProduct", "SubstancePolymer", "RiskEvidenceSynthesis"])
def test_r4_types_without_a_model_name_no_patient_and_are_refused(harness, holder, resource_type):
    hospital, patient = holder
    resource = {"resourceType": resource_type, "subject": [{"reference": f"Patient/{patient.id}"}]}
    assert refused(harness, hospital, patient, resource)["fhir_json.resourceType"] == NO_MODEL


def test_the_demo_records_are_valid_and_filed(harness, holder):
    hospital, patient = holder
    for body in discharge_records(patient.id).values():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                                 fhir_json=body))
        assert reply.record.record_id
