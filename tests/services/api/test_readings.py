"""Home readings (ExchangeService.PutObservation) over real gRPC: deposited by the patient or a
proxy with the report-readings scope, listed as patient-reported, refused with the field named
when not a reading of the patient's, shared with the family doctor only under consent, and never
in the ledger or the logs by value."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from harness import field_violations, grant

from consentry.services.sdk import readings
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def kinds(patient_id: str) -> dict[str, bytes]:
    """One reading of each kind, with values found nowhere else in a test's traffic."""
    return {
        "bp": readings.blood_pressure(patient_id, 137, 89, AN_HOUR_AGO),
        "glucose": readings.glucose(patient_id, 6.3, "mmol/L", AN_HOUR_AGO),
        "glucose-mg": readings.glucose(patient_id, 113, "mg/dL", AN_HOUR_AGO),
        "weight": readings.weight(patient_id, 71.9, AN_HOUR_AGO),
        "heart-rate": readings.heart_rate(patient_id, 67, AN_HOUR_AGO),
    }


def refused(client, patient_id: str, body: dict) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as err:
        client.put_observation(patient_id, json.dumps(body))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return field_violations(err.value)


def test_each_kind_is_accepted_and_listed_as_patient_reported(harness):
    patient = harness.patient()
    filed = {name: patient.client.put_observation(patient.id, body).record for name, body in kinds(patient.id).items()}
    for record in filed.values():
        assert record.patient_reported and record.holder == "@patient-reported"
        assert record.category == "vital-signs" and record.resource_type == "Observation"
    listed = patient.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=patient.id)).records
    assert {r.record_id for r in listed if r.patient_reported} == {r.record_id for r in filed.values()}


def test_a_reading_is_ledgered_as_a_deposit_by_its_reporter_without_values(harness):
    patient = harness.patient()
    reply = patient.client.put_observation(patient.id, readings.blood_pressure(patient.id, 141, 93, AN_HOUR_AGO))
    entry = harness.entry_at(reply.ledger_seq)
    assert entry["kind"] == "record.deposited" and entry["patient_reported"] is True
    assert entry["actor"] == harness.actor("patient:" + patient.id)
    assert entry["record"] == reply.record.record_id and entry["category"] == "vital-signs"
    # Value by value: a substring test would find "141" inside a hash now and then.
    values = leaves(entry)
    assert 141 not in values and 93 not in values
    assert not [v for v in values if isinstance(v, str) and (patient.id in v or "mm[Hg]" in v)]


def test_wrong_readings_are_refused_naming_the_field(harness):
    patient, other = harness.patient(), harness.patient()
    bp = json.loads(readings.blood_pressure(patient.id, 130, 80, AN_HOUR_AGO))
    weight = json.loads(readings.weight(patient.id, 70, AN_HOUR_AGO))
    cases = {
        "fhir_json.resourceType": {**bp, "resourceType": "Condition"},
        "fhir_json.category": {**bp, "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]},
        "fhir_json.code.coding": {**weight, "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}},
        "fhir_json.valueQuantity.code": {**weight, "valueQuantity": {**weight["valueQuantity"], "code": "[lb_av]"}},
        "fhir_json.valueQuantity.value": {**weight, "valueQuantity": {**weight["valueQuantity"], "value": 9000}},
        "fhir_json.effectiveDateTime": {
            **weight, "effectiveDateTime": (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")},
        "fhir_json.subject.reference": {**weight, "subject": {"reference": f"Patient/{other.id}"}},
        "fhir_json.component": {**bp, "component": bp["component"][:1]},
    }
    for field, body in cases.items():
        assert field in refused(patient.client, patient.id, body), field
    listed = patient.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=patient.id)).records
    assert list(listed) == []


def test_only_the_patient_and_proxies_with_the_scope_report(harness):
    patient, daughter, helper = harness.patient(), harness.patient(), harness.patient()
    for proxy, scope in ((daughter, consent_pb2.PROXY_SCOPE_REPORT_READINGS),
                         (helper, consent_pb2.PROXY_SCOPE_READ_HISTORY)):
        patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
            patient_id=patient.id, proxy_id=proxy.id, scopes=[scope], relationship="daughter"))
    reply = daughter.client.put_observation(patient.id, readings.heart_rate(patient.id, 72, AN_HOUR_AGO))
    assert reply.record.patient_reported
    assert harness.entry_at(reply.ledger_seq)["actor"] == harness.actor("patient:" + daughter.id)
    hospital = harness.org()
    for client in (helper.client, hospital.client):
        with pytest.raises(grpc.RpcError) as err:
            client.put_observation(patient.id, readings.heart_rate(patient.id, 72, AN_HOUR_AGO))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_family_doctor_receives_readings_only_under_consent(harness):
    patient, doctor = harness.patient(), harness.org(kind=FAMILY_DOCTOR, practitioner="dr-home")
    bodies = kinds(patient.id)
    ids = {patient.client.put_observation(patient.id, body).record.record_id for body in bodies.values()}

    def fetched():
        return list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                        service_key=harness.service_key))

    def refused_without_consent():
        with pytest.raises(grpc.RpcError) as err:
            fetched()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    refused_without_consent()
    consent = grant(patient, doctor, ["vital-signs"])
    try:
        got = [r for r in fetched() if r.shared]
    finally:
        patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert {r.record_id for r in got} == ids
    for item in got:
        body = json.loads(item.body)
        assert body["performer"] == [{"reference": f"Patient/{patient.id}"}]
        assert {"system": "urn:consentry:origin", "code": "patient-reported",
                "display": "Patient-reported"} in body["meta"]["tag"]
    refused_without_consent()


def test_values_never_reach_the_ledger_or_logs(harness, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    patient = harness.patient()
    patient.client.put_observation(patient.id, readings.blood_pressure(patient.id, 187.3, 119.7, AN_HOUR_AGO))
    refused(patient.client, patient.id, {**json.loads(readings.weight(patient.id, 70, AN_HOUR_AGO)),
                                         "valueQuantity": {"value": 7777.7, "system": "http://unitsofmeasure.org",
                                                           "code": "kg"}})
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out + err
    ledger = b"\n".join(harness.raw_entries()).decode()
    for secret in ("187.3", "119.7", "7777.7", patient.id):
        assert secret not in logged and secret not in ledger, secret


def leaves(value) -> list:
    """Every scalar in a JSON value, however deep."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]
