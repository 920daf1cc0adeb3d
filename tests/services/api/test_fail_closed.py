"""Fail closed: when the ledger cannot record a decision, nothing is disclosed, and the ledger
is left without a gap."""

from __future__ import annotations

import grpc
import pytest
from backends import BACKENDS, database
from harness import NONCE, Harness, grant

from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},'
       b'"category":[{"coding":[{"code":"laboratory"}]}]}')


def test_no_ledger_no_access(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                     fhir_json=LAB % patient.id.encode()))
    consent = grant(patient, doctor, ["lab"])
    harness.sql("ALTER TABLE ledger_entries RENAME TO ledger_entries_away")
    try:
        with pytest.raises(grpc.RpcError) as err:
            list(doctor.client.exchange.FetchRecords(
                exchange_pb2.FetchRecordsRequest(nonce=NONCE, patient_id=patient.id, purpose="TREAT")))
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
        assert "disclosed" in err.value.details()
    finally:
        harness.sql("ALTER TABLE ledger_entries_away RENAME TO ledger_entries")
    decisions = [e for e in harness.entries()
                 if e["kind"] == "access.decision" and e.get("consents") == [consent.consent_id]]
    assert decisions == []  # the failed fetch left no trace and no disclosure
    # The ledger is whole: the next fetch works and the chain verifies end to end.
    [item] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key)
    assert item.shared
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    auditor = harness.auditor()
    cp = auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    entries = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=0, page_size=1000)).entries
    verify_log([e.entry for e in entries][: cp.tree_size], cp.note,
               NoteVerifier.from_key(harness.app.ledger_verifier_key))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_policy_deadline_no_decision_meets_withholds_every_record(backend, tmp_path):
    """`CONSENTRY_POLICY_TIMEOUT_S` is the deadline of every decision call: past it, denied."""
    with database(backend, tmp_path) as url:
        late = Harness.start(tmp_path / "data", url, policy_timeout_s=0.000_01)
        try:
            hospital, doctor, patient = late.org(), late.org(), late.patient()
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
            grant(patient, doctor, ["lab"])
            [item] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                         service_key=late.service_key)
            assert not item.shared and item.reasons == ("policy engine unavailable: no decision within 0 ms",)
        finally:
            late.stop()
