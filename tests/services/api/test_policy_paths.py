"""The policy's special paths as a partner institution meets them over gRPC: break the glass,
research under a research consent (pseudonymised before encryption), minimum necessary."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import field_violations, grant

from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

ALLERGY = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/{pid}"},
           "code": {"text": "penicillin"}, "recordedDate": "2026-10-01"}
NOTE_CONTENT = [{"attachment": {"contentType": "text/plain"}}]
LAB = {"resourceType": "Observation", "status": "final", "code": {"text": "CRP"},
       "subject": {"reference": "Patient/{pid}", "display": "Ana Ruiz"},
       "category": [{"coding": [{"code": "laboratory"}]}], "effectiveDateTime": "2026-11-19",
       "identifier": [{"system": "urn:mrn", "value": "MRN-{pid}"}], "valueQuantity": {"value": 12, "unit": "mg/L"}}


def deposit(hospital, patient, resource: dict, **kw) -> str:
    body = json.dumps(resource).replace("{pid}", patient.id).encode()
    return hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body, **kw)).record.record_id


def test_break_the_glass_shares_the_emergency_set_and_flags_it(harness):
    hospital, er, patient = harness.org(), harness.org(practitioner="dr-er"), harness.patient()
    allergy = deposit(hospital, patient, ALLERGY)
    note = deposit(hospital, patient, {"resourceType": "DocumentReference", "status": "current",
                                       "subject": {"reference": f"Patient/{patient.id}"}, "content": NOTE_CONTENT},
                   category="mental-health")
    got = {r.record_id: r for r in er.client.fetch(
        patient.id, "ETREAT", recipient_key=er.encryption, service_key=harness.service_key,
        emergency_justification="unconscious on arrival, anaphylaxis suspected")}
    # No consent: the emergency set only; the sensitive note is withheld without being named.
    assert set(got) == {allergy} and got[allergy].shared
    history = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id)).events
    [event] = [e for e in history if e.record_id == allergy]
    assert event.emergency and event.allowed and {"notify_patient", "review"} <= set(event.obligations)
    [withheld] = [e for e in history if e.record_id == note]
    assert withheld.emergency and not withheld.allowed
    assert "break-the-glass never reaches a sensitive record" in withheld.reasons
    with pytest.raises(grpc.RpcError) as err:  # no declared emergency: no relationship either
        list(er.client.fetch(patient.id, "ETREAT", recipient_key=er.encryption, service_key=harness.service_key))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_research_needs_a_research_consent_and_gets_pseudonymised_data(harness):
    hospital, patient = harness.org(), harness.patient()
    registry = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher")
    lab = deposit(hospital, patient, LAB)
    treatment = grant(patient, registry, ["lab"], purposes=("HRESCH",))
    assert treatment.subject_id == ""  # a treatment consent has no research subject to fetch under
    with pytest.raises(grpc.RpcError) as err:  # research never names the patient
        list(registry.client.fetch(patient.id, "HRESCH", recipient_key=registry.encryption,
                                   service_key=harness.service_key))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {"patient_id", "subject_id"}
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=treatment.consent_id))
    research = grant(patient, registry, ["lab"], purposes=("HRESCH",), kind=consent_pb2.CONSENT_KIND_RESEARCH)
    [item] = registry.client.fetch("", "HRESCH", subject_id=research.subject_id, recipient_key=registry.encryption,
                                   service_key=harness.service_key)
    assert item.record_id == lab and item.shared and "pseudonymise" in item.header["obligations"]
    text = item.body.decode()
    assert patient.id not in text and "Ana Ruiz" not in text and "MRN" not in text
    assert item.resource()["subject"] == {"reference": "Patient/" + research.subject_id}  # the subject, by its id
    assert item.resource()["valueQuantity"] == {"value": 12, "unit": "mg/L"}  # the science survives


def test_minimum_necessary_a_clerk_reads_no_clinical_record(harness):
    hospital, patient = harness.org(), harness.patient()
    clinic = harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC, role="admin-clerk", practitioner="clerk-1")
    deposit(hospital, patient, LAB)
    grant(patient, clinic, ["lab"])
    [item] = clinic.client.fetch(patient.id, "TREAT", recipient_key=clinic.encryption, service_key=harness.service_key)
    assert not item.shared and any("admin-clerk" in r for r in item.reasons)
