"""Psychotherapy notes over gRPC: only a consent naming them alone covers them (HIPAA
164.508(b)(3)(ii)); such a consent must end (an authorisation); break-the-glass never reaches them."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import field_violations, grant

from consentry.v1 import common_pb2, consent_pb2, exchange_pb2

NOTE = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/{pid}"},
        "date": "2026-11-02T10:00:00Z", "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}


def a_year() -> common_pb2.Period:
    return common_pb2.Period(end=Timestamp(seconds=int(time.time()) + 365 * 86_400))


@pytest.fixture
def therapy(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    body = json.dumps(NOTE).replace("{pid}", patient.id).encode()
    note = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body, category="psychotherapy-notes")).record
    assert note.category == "psychotherapy-notes"
    return doctor, patient, note.record_id


def shared(harness, org, patient, purpose="TREAT", **kw):
    return [r.record_id for r in org.client.fetch(patient.id, purpose, recipient_key=org.encryption,
                                                  service_key=harness.service_key, **kw) if r.shared]


def reasons_for(patient, record_id):
    events = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id)).events
    return [list(e.reasons) for e in events if e.record_id == record_id]


def test_a_consent_naming_psychotherapy_notes_with_other_categories_does_not_cover_them(harness, therapy):
    doctor, patient, note = therapy
    combined = grant(patient, doctor, ["mental-health", "psychotherapy-notes"], validity=a_year())
    assert shared(harness, doctor, patient) == []
    [reasons] = reasons_for(patient, note)
    assert f"consent {combined.consent_id} names more than psychotherapy-notes, which needs a consent of its own" \
        in reasons


def test_a_consent_naming_them_alone_covers_them(harness, therapy):
    doctor, patient, note = therapy
    grant(patient, doctor, ["mental-health", "psychotherapy-notes"], validity=a_year())
    alone = grant(patient, doctor, ["psychotherapy-notes"], validity=a_year())
    assert shared(harness, doctor, patient) == [note]
    [entry] = [e for e in harness.entries() if e.get("record") == note and e.get("allowed")]
    assert entry["consents"] == [alone.consent_id]


def test_a_psychotherapy_notes_consent_must_end(harness, therapy):
    doctor, patient, _ = therapy
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id=patient.id, grantee=doctor.id, notice=doctor.notice,
            terms=consent_pb2.ConsentTerms(categories=["psychotherapy-notes"], purposes=["TREAT"])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {
        "terms.validity.end": "must be set: a consent naming psychotherapy-notes must end"}


def test_break_the_glass_never_reaches_them(harness, therapy):
    _, patient, note = therapy
    er = harness.org(practitioner="dr-er")
    assert shared(harness, er, patient, "ETREAT", emergency_justification="unresponsive") == []
    [reasons] = reasons_for(patient, note)
    assert reasons == ["role physician may not read psychotherapy-notes for ETREAT"]
