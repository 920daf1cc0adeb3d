"""The references real feeds use to name the patient (docs/labelling.md, "References"), and the
identifiers a patient is enrolled with, kept only as keyed hashes."""

from __future__ import annotations

import json
import secrets

import grpc
import pytest
from clinical_samples import body, lab_result
from harness import field_violations
from nacl.signing import SigningKey

from consentry.v1 import exchange_pb2, registry_pb2

NATIONAL_ID = "urn:oid:2.16.840.1.113883.2.4.6.3"


def national_id() -> str:
    """A fresh value: one server serves the whole module, and an identifier is enrolled once."""
    return str(secrets.randbelow(10**9)).zfill(9)


def enrol(harness, *identifiers: tuple[str, str]) -> str:
    patient_id = f"P{secrets.token_hex(5)}"
    harness.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
        patient_id=patient_id, identity_public_key=bytes(SigningKey.generate().verify_key),
        identifiers=[registry_pb2.PatientIdentifier(system=s, value=v) for s, v in identifiers]))
    return patient_id


def put(org, patient_id: str, resource: dict) -> exchange_pb2.PutRecordResponse:
    return org.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient_id, fhir_json=body(resource)))


def with_subject(patient_id: str, subject: dict) -> dict:
    return {**lab_result(patient_id), "subject": subject}


@pytest.mark.parametrize("reference", [
    "Patient/{id}",
    "https://ehr.example.org/fhir/Patient/{id}",
    "https://ehr.example.org/fhir/Patient/{id}/_history/1",
    "Patient/{id}/_history/3",
])
def test_relative_absolute_and_versioned_patient_references(harness, reference):
    hospital, patient_id = harness.org(), enrol(harness)
    put(hospital, patient_id, with_subject(patient_id, {"reference": reference.format(id=patient_id)}))


@pytest.mark.parametrize("reference", [
    "https://ehr.example.org/fhir/Patient/someone-else/_history/1",
    "Group/{id}",
    "https://ehr.example.org/fhir/Practitioner/{id}",
    "urn:uuid:6b1f0d5e-2a5c-4c0e-9f6e-0c1d2e3f4a5b",
    "#{id}",
])
def test_a_reference_to_anyone_else_or_to_nothing_is_refused(harness, reference):
    hospital, patient_id = harness.org(), enrol(harness)
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient_id, with_subject(patient_id, {"reference": reference.format(id=patient_id)}))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(err.value)) == ["fhir_json.subject"]


def test_urn_uuid_references_resolve_within_the_bundle(harness):
    hospital, patient_id = harness.org(), enrol(harness)
    patient_url = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "id": patient_id},
         "request": {"method": "PUT", "url": f"Patient/{patient_id}"}},
        {"fullUrl": "urn:uuid:88d1c0d3-6f3a-4a86-9d1d-6b0a4f0f3c11",
         "resource": with_subject(patient_id, {"reference": patient_url}),
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    assert put(hospital, patient_id, bundle).record.category == "lab"
    elsewhere = "urn:uuid:" + "1" * 8 + "-1111-4111-8111-" + "1" * 12
    bundle["entry"][1]["resource"]["subject"] = {"reference": elsewhere}
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient_id, bundle)
    assert list(field_violations(err.value)) == ["fhir_json.entry[1].resource.subject"]


def test_a_bundle_naming_the_patient_by_another_systems_id_needs_an_enrolled_identifier(harness):
    """A hospital's own Patient id is not the service's: the Patient entry's identifier links them."""
    hospital, number = harness.org(), national_id()
    patient_id = enrol(harness, (NATIONAL_ID, number))
    local = {"resourceType": "Patient", "id": "mrn-4471", "identifier": [{"system": NATIONAL_ID, "value": number}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "https://ehr.example.org/fhir/Patient/mrn-4471", "resource": local},
        {"resource": with_subject(patient_id, {"reference": "Patient/mrn-4471"})}]}
    put(hospital, patient_id, bundle)
    local["identifier"][0]["value"] = national_id()
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient_id, bundle)
    assert list(field_violations(err.value)) == ["fhir_json.entry[0].resource"]


def test_identifier_references_match_an_enrolled_identifier(harness):
    hospital = harness.org()
    patient_id = enrol(harness, (NATIONAL_ID, national_id()), ("https://hospital.example.org/mrn", "A-77"))
    by_identifier = {"identifier": {"system": "https://hospital.example.org/mrn", "value": "A-77"}}
    put(hospital, patient_id, with_subject(patient_id, by_identifier))
    for wrong in ({"system": "https://hospital.example.org/mrn", "value": "A-78"},
                  {"system": "https://other.example.org/mrn", "value": "A-77"}):
        with pytest.raises(grpc.RpcError) as err:
            put(hospital, patient_id, with_subject(patient_id, {"identifier": wrong}))
        assert list(field_violations(err.value)) == ["fhir_json.subject"]


def test_identifiers_are_kept_only_as_keyed_hashes(harness):
    number = national_id()
    patient_id = enrol(harness, (NATIONAL_ID, number))
    [(digest, _)] = harness.sql("SELECT identifier_hash, patient_id FROM patient_identifiers WHERE patient_id = :p",
                                p=patient_id)
    assert len(digest) == 64 and number not in digest
    dump = json.dumps([list(r) for r in harness.sql("SELECT * FROM patient_identifiers")])
    assert number not in dump and NATIONAL_ID not in dump
    assert not [e for e in harness.entries() if number in json.dumps(e) or NATIONAL_ID in json.dumps(e)]


def test_an_identifier_of_another_patient_is_already_exists_and_nothing_is_enrolled(harness):
    number = national_id()
    enrol(harness, (NATIONAL_ID, number))
    patient_id = f"P{secrets.token_hex(5)}"
    with pytest.raises(grpc.RpcError) as err:
        harness.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id=patient_id, identity_public_key=bytes(SigningKey.generate().verify_key),
            identifiers=[registry_pb2.PatientIdentifier(system=NATIONAL_ID, value=number)]))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert harness.sql("SELECT count(*) FROM persons WHERE patient_id = :p", p=patient_id)[0][0] == 0


def test_enrolment_identifiers_are_validated(harness):
    with pytest.raises(grpc.RpcError) as err:
        harness.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id=f"P{secrets.token_hex(5)}", identity_public_key=bytes(SigningKey.generate().verify_key),
            identifiers=[registry_pb2.PatientIdentifier(system="national id", value="1"),
                         registry_pb2.PatientIdentifier(system=NATIONAL_ID, value=" "),
                         registry_pb2.PatientIdentifier(system=NATIONAL_ID, value=" ")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {
        "identifiers[0].system": "must be an absolute URI", "identifiers[1].value": "must be 1-128 characters",
        "identifiers[2].value": "must be 1-128 characters", "identifiers": "must not repeat an identifier"}
