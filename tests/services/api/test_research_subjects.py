"""Research subjects over gRPC: a research consent's subject id, and a research fetch that names it
instead of the patient (docs/disclosure.md, "Research")."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import NONCE, field_violations, grant

from consentry.services.crypto import derived
from consentry.services.domain import research_subjects
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

LAB = {"resourceType": "Observation", "status": "final", "code": {"text": "CRP"},
       "subject": {"reference": "Patient/{pid}"},
       "category": [{"coding": [{"code": "laboratory"}]}], "effectiveDateTime": "2026-11-19",
       "valueQuantity": {"value": 12, "unit": "mg/L"}}
MEDICATION = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
              "subject": {"reference": "Patient/{pid}"}, "authoredOn": "2026-11-20",
              "medicationCodeableConcept": {"text": "amoxicillin 500 mg"}}
RESEARCH = consent_pb2.CONSENT_KIND_RESEARCH


@pytest.fixture
def study(harness):
    """A patient with a lab result and a medication order, and a research registry."""
    hospital, patient = harness.org(), harness.patient()
    registry = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher")
    records = {}
    for name, resource in (("lab", LAB), ("medication", MEDICATION)):
        body = json.dumps(resource).replace("{pid}", patient.id).encode()
        records[name] = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body)).record.record_id
    return patient, registry, records


def research_fetch(harness, registry, subject_id: str) -> list:
    return list(registry.client.fetch("", "HRESCH", subject_id=subject_id, recipient_key=registry.encryption,
                                      service_key=harness.service_key))


def test_a_research_consent_has_one_subject_id_for_every_version_shown_to_grantee_and_patient(harness, study):
    patient, registry, _records = study
    consent = grant(patient, registry, ["lab", "medication"], purposes=("HRESCH",), kind=RESEARCH)
    assert consent.subject_id == derived.subject_id(harness.app.trail.pseudonym_key, consent.consent_id)
    narrowed = patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(
            kind=RESEARCH, categories=["lab"], purposes=["HRESCH"], validity=consent.validity))).consent
    assert narrowed.version == 2 and narrowed.subject_id == consent.subject_id
    seen_by_grantee = registry.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id))
    assert {c.subject_id for c in [seen_by_grantee.consent, *seen_by_grantee.history]} == {consent.subject_id}
    listed = patient.client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id)).consents
    assert [c.subject_id for c in listed] == [consent.subject_id]
    second = grant(patient, registry, ["lab"], purposes=("HRESCH",), kind=RESEARCH)
    assert second.subject_id not in ("", consent.subject_id)  # one patient, two unlinkable subjects
    assert grant(patient, registry, ["lab"]).subject_id == ""  # a treatment consent has none


def test_a_research_fetch_is_decided_by_its_subjects_consent_alone(harness, study):
    patient, registry, records = study
    lab_only = grant(patient, registry, ["lab"], purposes=("HRESCH",), kind=RESEARCH)
    medication_only = grant(patient, registry, ["medication"], purposes=("HRESCH",), kind=RESEARCH)
    got = {r.record_id: r for r in research_fetch(harness, registry, lab_only.subject_id)}
    assert got[records["lab"]].shared and not got[records["medication"]].shared
    entries = [json.loads(r.ledger_entry) for r in got.values()]
    assert json.loads(got[records["lab"]].ledger_entry)["consents"] == [lab_only.consent_id]
    assert not any(medication_only.consent_id in json.dumps(e) for e in entries)  # the other subject stays apart
    other = {r.record_id: r for r in research_fetch(harness, registry, medication_only.subject_id)}
    assert other[records["medication"]].shared and not other[records["lab"]].shared
    named = {json.loads(r.ledger_entry)["patient"] for r in other.values()}
    assert named.isdisjoint(e["patient"] for e in entries)


def test_a_research_subject_is_unrelated_once_its_consent_is_revoked(harness, study):
    patient, registry, _records = study
    consent = grant(patient, registry, ["lab"], purposes=("HRESCH",), kind=RESEARCH)
    assert research_fetch(harness, registry, consent.subject_id)
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    with pytest.raises(grpc.RpcError) as err:
        research_fetch(harness, registry, consent.subject_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.details().startswith("nothing was disclosed: this institution has no active consent")


@pytest.mark.parametrize(("request_fields", "violations"), [
    ({"patient_id": "P1", "purpose": "TREAT", "subject_id": "0" * 32}, {"subject_id": "is only for research (HRESCH)"}),
    ({"purpose": "HRESCH", "subject_id": "not-a-subject"},
     {"subject_id": "must be the subject_id of a research consent (32 lower-case hex digits) for research (HRESCH)"}),
    ({"purpose": "HRESCH"},
     {"subject_id": "must be the subject_id of a research consent (32 lower-case hex digits) for research (HRESCH)"}),
])
def test_a_subject_id_belongs_to_research_and_has_one_shape(harness, study, request_fields, violations):
    _patient, registry, _records = study
    with pytest.raises(grpc.RpcError) as err:
        list(registry.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(nonce=NONCE, **request_fields)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == violations


def test_research_consents_from_before_subject_ids_get_theirs_at_start_up(harness, study):
    patient, registry, _records = study
    consent = grant(patient, registry, ["lab"], purposes=("HRESCH",), kind=RESEARCH)
    harness.sql("UPDATE consents SET subject_id = NULL WHERE consent_id = :c", c=consent.consent_id)
    with pytest.raises(grpc.RpcError):  # an id no consent carries resolves for no one
        research_fetch(harness, registry, consent.subject_id)
    secret = harness.app.trail.pseudonym_key
    assert research_subjects.assign_missing(harness.app.db, secret) == 1
    assert research_subjects.assign_missing(harness.app.db, secret) == 0
    assert research_fetch(harness, registry, consent.subject_id)[0].shared
