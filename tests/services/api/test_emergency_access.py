"""Break-the-glass completed, over gRPC: the justification kept sealed and shown to the patient
and auditors, a notice queued at once, a ledger entry naming who, from whom and when, and a
review queue with a deadline worked by auditors."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import field_violations

from consentry.services.domain.emergencies import REVIEW_WITHIN_NS
from consentry.v1 import audit_pb2, common_pb2, consent_pb2, exchange_pb2, registry_pb2

WHY = "unconscious on arrival, anaphylaxis suspected"
ALLERGY = ('{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/%s"},'
           '"code":{"text":"penicillin"},"recordedDate":"2026-10-01"}')
NOTE = ('{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/%s"},'
        '"content":[{"attachment":{"contentType":"text/plain","data":"bm90ZQ=="}}]}')


@pytest.fixture
def emergency(harness):
    """A hospital holds an allergy and a psychiatric note; an ER physician breaks the glass."""
    hospital, er, patient = harness.org(), harness.org(practitioner="dr-er"), harness.patient()
    allergy = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=(ALLERGY % patient.id).encode())).record.record_id
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=(NOTE % patient.id).encode(), category="mental-health"))
    got = list(er.client.fetch(patient.id, "ETREAT", recipient_key=er.encryption, service_key=harness.service_key,
                               emergency_justification=WHY))
    assert [r.record_id for r in got if r.shared] == [allergy]
    [notice] = [n for n in patient.client.notices(patient.id) if n.kind == consent_pb2.NOTICE_KIND_EMERGENCY_ACCESS]
    return hospital, er, patient, allergy, notice.subject_ref


def get(client, emergency_id: str) -> common_pb2.EmergencyAccess:
    return client.consent.GetEmergencyAccess(consent_pb2.GetEmergencyAccessRequest(emergency_id=emergency_id)).access


def queue(auditor, pending_only=True) -> list[common_pb2.EmergencyAccess]:
    return list(auditor.client.audit.ListEmergencyAccesses(audit_pb2.ListEmergencyAccessesRequest(
        pending_only=pending_only, page_size=1000)).accesses)


def review(client, emergency_id, outcome=common_pb2.EMERGENCY_REVIEW_OUTCOME_JUSTIFIED, comment=""):
    return client.audit.ReviewEmergencyAccess(audit_pb2.ReviewEmergencyAccessRequest(
        emergency_id=emergency_id, outcome=outcome, comment=comment)).access


def test_the_patient_is_told_at_once_and_reads_the_justification(harness, emergency):
    hospital, er, patient, allergy, emergency_id = emergency
    access = get(patient.client, emergency_id)
    assert (access.patient_id, access.recipient, access.practitioner_id, access.role) == (
        patient.id, er.id, "dr-er", "physician")
    assert access.justification == WHY and list(access.holders) == [hospital.id]
    assert list(access.record_ids) == [allergy]
    assert access.review_due_time.ToNanoseconds() - access.access_time.ToNanoseconds() == REVIEW_WITHIN_NS
    assert access.outcome == common_pb2.EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED and not access.overdue
    history = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    assert {e.emergency_access_id for e in history.events} == {emergency_id}


def test_the_ledger_names_who_from_whom_and_when_and_never_the_justification(harness, emergency):
    hospital, er, patient, allergy, emergency_id = emergency
    [entry] = [e for e in harness.entries() if e["kind"] == "emergency.access" and e["emergency"] == emergency_id]
    assert (entry["recipient"], entry["practitioner"], entry["role"], entry["holders"], entry["records"]) == (
        "org:" + er.id, "dr-er", "physician", ["org:" + hospital.id], [allergy])
    assert entry["justification"] is True and entry["time"] and entry["review_due"]
    assert entry["patient"] == harness.pseudonym(patient.id)
    decisions = [e for e in harness.entries() if e.get("emergency_access") == emergency_id]
    assert len(decisions) == 2 and all(e["kind"] == "access.decision" and e["emergency"] for e in decisions)
    assert not any(WHY.encode() in raw for raw in harness.raw_entries())
    [(sealed,)] = harness.sql("SELECT justification_ciphertext FROM emergency_accesses WHERE emergency_id = :e",
                              e=emergency_id)
    assert WHY.encode() not in bytes(sealed)


def test_only_the_patient_read_history_proxies_and_auditors_read_it(harness, emergency):
    _, er, patient, _, emergency_id = emergency
    daughter, stranger, auditor = harness.patient(), harness.patient(), harness.auditor()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY],
        relationship="daughter"))
    assert get(daughter.client, emergency_id).justification == WHY
    assert get(auditor.client, emergency_id).justification == WHY
    with pytest.raises(grpc.RpcError) as err:
        get(stranger.client, emergency_id)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND, "no emergency access with this id")
    with pytest.raises(grpc.RpcError) as err:
        get(er.client, emergency_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_auditors_work_the_review_queue_once_per_access(harness, emergency):
    _, _, patient, _, emergency_id = emergency
    auditor = harness.auditor()
    assert emergency_id in [a.emergency_id for a in queue(auditor)]
    dues = [a.review_due_time.ToNanoseconds() for a in queue(auditor, pending_only=False)]
    assert dues == sorted(dues)
    done = review(auditor.client, emergency_id, comment="allergy check before adrenaline: justified")
    assert done.outcome == common_pb2.EMERGENCY_REVIEW_OUTCOME_JUSTIFIED and done.reviewer == "auditor:" + auditor.id
    assert done.review_comment == "allergy check before adrenaline: justified" and done.HasField("review_time")
    assert emergency_id not in [a.emergency_id for a in queue(auditor)]
    assert get(patient.client, emergency_id).outcome == common_pb2.EMERGENCY_REVIEW_OUTCOME_JUSTIFIED
    [entry] = [e for e in harness.entries() if e["kind"] == "emergency.reviewed" and e["emergency"] == emergency_id]
    assert (entry["outcome"], entry["late"], entry["actor"]) == ("justified", False, "auditor:" + auditor.id)
    assert "adrenaline" not in json.dumps(entry)
    with pytest.raises(grpc.RpcError) as err:
        review(auditor.client, emergency_id, common_pb2.EMERGENCY_REVIEW_OUTCOME_NOT_JUSTIFIED)
    assert (err.value.code(), err.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION, "the emergency access was already reviewed: justified")


def test_an_overdue_review_is_flagged_and_ledgered_late(harness, emergency):
    _, _, _, _, emergency_id = emergency
    auditor = harness.auditor()
    harness.sql("UPDATE emergency_accesses SET review_due_ns = 1 WHERE emergency_id = :e", e=emergency_id)
    [access] = [a for a in queue(auditor) if a.emergency_id == emergency_id]
    assert access.overdue
    review(auditor.client, emergency_id, common_pb2.EMERGENCY_REVIEW_OUTCOME_REFERRED)
    [entry] = [e for e in harness.entries() if e["kind"] == "emergency.reviewed" and e["emergency"] == emergency_id]
    assert entry["late"] is True and entry["outcome"] == "referred"


def test_bad_reviews_and_callers_are_refused_exactly(harness, emergency):
    _, er, patient, _, emergency_id = emergency
    auditor = harness.auditor()
    with pytest.raises(grpc.RpcError) as err:
        review(auditor.client, emergency_id, common_pb2.EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED)
    assert field_violations(err.value) == {"outcome": "must be JUSTIFIED, NOT_JUSTIFIED or REFERRED"}
    with pytest.raises(grpc.RpcError) as err:
        review(auditor.client, "00000000-0000-4000-8000-000000000000")
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND, "no emergency access with this id")
    for client in (patient.client, er.client):
        with pytest.raises(grpc.RpcError) as err:
            client.audit.ListEmergencyAccesses(audit_pb2.ListEmergencyAccessesRequest())
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:
            review(client, emergency_id)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert queue(auditor)  # nothing was reviewed by the refused calls
    assert get(auditor.client, emergency_id).outcome == common_pb2.EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED


def test_a_refused_emergency_fetch_leaves_no_emergency_access(harness):
    insurer = harness.org(kind=registry_pb2.INSTITUTION_KIND_INSURER, role="claims-officer")
    patient = harness.patient()
    before = harness.sql("SELECT count(*) FROM emergency_accesses")[0][0]
    with pytest.raises(grpc.RpcError) as err:
        list(insurer.client.fetch(patient.id, "ETREAT", recipient_key=insurer.encryption,
                                  service_key=harness.service_key, emergency_justification=WHY))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert harness.sql("SELECT count(*) FROM emergency_accesses")[0][0] == before
    assert patient.client.notices(patient.id) == []


def test_reading_an_emergency_access_and_the_notice_of_it_is_ledgered(harness, emergency):
    """Each read about the patient leaves one metadata.read entry naming the kind of read."""
    _hospital, _er, patient, _allergy, emergency_id = emergency
    before = {seq for seq, _ in harness.entries_by_seq()}
    get(patient.client, emergency_id)
    patient.client.consent.ListNotices(consent_pb2.ListNoticesRequest(patient_id=patient.id))
    reads = [json.loads(raw) for seq, raw in harness.entries_by_seq() if seq not in before]
    assert [(e["kind"], e["read"], e["patient"]) for e in reads] == [
        ("metadata.read", "emergency-access", harness.pseudonym(patient.id)),
        ("metadata.read", "notices", harness.pseudonym(patient.id))]
