"""Erasure over gRPC: the holder always; the patient, or a proxy with the manage-consents scope,
where the policy allows (action "erase", policy/data/erasure.json). An erased record's wrapped
key and body are gone, later fetches report it erased (a sensitive one only to its holder and the
patient: docs/disclosure.md), and the ledger still verifies and never held the content."""

from __future__ import annotations

import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from harness import grant

from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.services.cli.demo import discharge_records
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


@pytest.fixture
def story(harness):
    """A hospital, a patient with a discharge summary and a psychiatric note, a family doctor."""
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    bodies = discharge_records(patient.id)
    summary = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=bodies["discharge summary"])).record
    note = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=bodies["psychiatric note"], category="mental-health")).record
    return hospital, patient, doctor, summary, note


def erase(person, record_id: str, reason: str = "I withdraw this record"):
    return person.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=record_id, reason=reason))


def stored(harness, record_id: str):
    [(ciphertext, wrapped, erased)] = harness.sql(
        "SELECT ciphertext, wrapped_key, erased_ns FROM records WHERE record_id = :r", r=record_id)
    return ciphertext, wrapped, erased


def policy_reasons(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return [info.metadata[f"reason_{i}"] for i in range(len(info.metadata))]
    return []


def verified_entries(harness) -> list[dict]:
    """Every entry up to a fresh checkpoint, verified offline against the ledger key."""
    auditor = harness.auditor()
    cp = auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    raw, start = [], 0
    while len(raw) < cp.tree_size:
        page = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=start, page_size=1000))
        assert page.entries
        raw.extend(e.entry for e in page.entries)
        start = page.next_start
    raw = raw[: cp.tree_size]
    verify_log(raw, cp.note, NoteVerifier.from_key(harness.app.ledger_verifier_key))
    return [json.loads(e) for e in raw]


def test_the_patient_erases_a_sensitive_record(harness, story):
    hospital, patient, doctor, summary, note = story
    reply = erase(patient, note.record_id)
    assert reply.record.erased and reply.record.record_id == note.record_id
    ciphertext, wrapped, erased = stored(harness, note.record_id)
    assert ciphertext is None and wrapped is None and erased is not None

    consent = grant(patient, doctor, ["mental-health", "discharge-summary"])
    items = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                     service_key=harness.service_key))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    by_id = {i.record_id: i for i in items}
    assert set(by_id) == {summary.record_id}  # an erased sensitive record is not named to the doctor
    assert by_id[summary.record_id].shared  # the rest of the record is untouched
    history = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=patient.id, page_size=1000)).events
    # Erased, the record is no longer the patient's: no fetch considers it, so none reports it.
    assert not [e for e in history if e.record_id == note.record_id]

    entries = verified_entries(harness)
    [entry] = [e for e in entries if e.get("kind") == "record.erased" and e["record"] == note.record_id]
    pseudonym = harness.pseudonym(patient.id)
    assert entry["seq"] == reply.ledger_seq
    assert entry["actor"] == "patient:" + pseudonym and entry["patient"] == pseudonym
    assert entry["erased_by"] == "patient" and "on_behalf_of" not in entry
    assert entry["policy_revision"] == harness.app.policy.revision
    assert entry["reasons"] == ["the patient may erase records of category mental-health"]
    raw = json.dumps(entries)
    assert patient.id not in raw and "Liaison psychiatry" not in raw and "I withdraw" not in raw


def test_the_patient_may_not_erase_a_retained_record(harness, story):
    hospital, patient, doctor, summary, note = story
    with pytest.raises(grpc.RpcError) as err:
        erase(patient, summary.record_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reasons = policy_reasons(err.value)
    assert reasons == ["the patient may not erase category discharge-summary: discharge documentation the holder "
                       "must retain by law; only the holder can erase it"]
    ciphertext, wrapped, erased = stored(harness, summary.record_id)
    assert ciphertext is not None and wrapped is not None and erased is None
    entries = verified_entries(harness)
    refusals = [e for e in entries if e.get("kind") == "call.refused" and e["method"].endswith("/EraseRecord")
                and e["reasons"] == reasons]
    assert refusals and refusals[-1]["status"] == "PERMISSION_DENIED"
    assert not any(e.get("kind") == "record.erased" and e["record"] == summary.record_id for e in entries)
    # The holder still may.
    assert erase(hospital, summary.record_id, "entered in error").record.erased


def test_a_stranger_may_not_erase(harness, story):
    hospital, patient, doctor, summary, note = story
    stranger = harness.patient()
    with pytest.raises(grpc.RpcError) as err:  # not theirs: as if there were no such record
        erase(stranger, note.record_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert stored(harness, note.record_id)[1] is not None
    # Nor may an institution that does not hold it (it cannot even tell it exists).
    with pytest.raises(grpc.RpcError) as err:
        erase(doctor, note.record_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert stored(harness, note.record_id)[1] is not None


def test_a_proxy_with_manage_consents_erases_and_the_ledger_names_both(harness, story):
    hospital, patient, doctor, summary, note = story
    daughter, reader = harness.patient(), harness.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=reader.id, relationship="son", scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY]))
    with pytest.raises(grpc.RpcError) as err:
        erase(reader, note.record_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS]))
    with pytest.raises(grpc.RpcError) as err:
        erase(daughter, summary.record_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert any("proxy" in r and "only the holder" in r for r in policy_reasons(err.value))

    reply = erase(daughter, note.record_id)
    assert reply.record.erased
    assert stored(harness, note.record_id)[:2] == (None, None)
    [entry] = [e for e in verified_entries(harness)
               if e.get("kind") == "record.erased" and e["record"] == note.record_id]
    pseudonym = harness.pseudonym
    assert entry["actor"] == "patient:" + pseudonym(daughter.id) and entry["patient"] == pseudonym(patient.id)
    assert entry["erased_by"] == "proxy" and entry["on_behalf_of"] == "patient"
    assert entry["policy_revision"] == harness.app.policy.revision


def test_erasing_twice_is_refused_and_the_holder_needs_no_policy(harness, story):
    hospital, patient, doctor, summary, note = story
    reply = erase(hospital, note.record_id, "entered in error")
    with pytest.raises(grpc.RpcError) as err:
        erase(hospital, note.record_id)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:  # an erased record is no one's: as if there were none
        erase(patient, note.record_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and err.value.details() == "no record with this id"
    [entry] = [e for e in verified_entries(harness)
               if e.get("kind") == "record.erased" and e["record"] == note.record_id]
    assert entry["actor"] == "org:" + hospital.id and entry["erased_by"] == "holder"
    assert "policy_revision" not in entry and reply.record.erased
