"""Repudiation: no one can deny what they did, and no one can make the record of it deny it.

Every decision and every refusal leaves an entry that names who acted (the patient by
pseudonym), and an entry removed or altered afterwards — by an operator, or anyone with the
database — is caught by an auditor holding only the ledger's public key.
"""

from __future__ import annotations

import json

import grpc
import pytest
from harness import Harness, grant

from consentry.ledger import NoteVerifier, verify_log
from consentry.ledger.errors import LedgerError
from consentry.services.identity.tokens import Caller
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

LAB = ('{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/%s"},'
       '"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-19"}')
NOTE = '{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/%s"}}'


def new_entries(harness: Harness, before: int) -> list[dict]:
    return harness.entries()[before:]


def verified(harness: Harness, raw: list[bytes]) -> None:
    """Verifies `raw` against a fresh signed checkpoint of exactly these entries."""
    cp = harness.operator.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    verify_log(raw[: cp.tree_size], cp.note, NoteVerifier.from_key(harness.app.ledger_verifier_key))


@pytest.mark.parametrize(("attempt", "status"), [
    ("an invalid request", grpc.StatusCode.INVALID_ARGUMENT),
    ("a call for someone else's patient", grpc.StatusCode.PERMISSION_DENIED),
    ("an erase of a record it does not hold", grpc.StatusCode.NOT_FOUND),
    ("a second revocation", grpc.StatusCode.FAILED_PRECONDITION),
])
def test_an_authenticated_callers_refusal_is_ledgered_naming_it(harness, attempt, status):
    hospital, patient, other = harness.org(), harness.patient(), harness.patient()
    consent = grant(patient, hospital, ["lab"])
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    calls = {
        "an invalid request": (hospital, lambda: hospital.client.exchange.PutRecord(
            exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=b"{not json"))),
        "a call for someone else's patient": (other, lambda: other.client.consent.GetAccessHistory(
            consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))),
        "an erase of a record it does not hold": (hospital, lambda: hospital.client.exchange.EraseRecord(
            exchange_pb2.EraseRecordRequest(record_id="0" * 8 + "-0000-4000-8000-" + "0" * 12, reason="tidy"))),
        "a second revocation": (patient, lambda: patient.client.consent.RevokeConsent(
            consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))),
    }
    caller, call = calls[attempt]
    before = len(harness.entries())
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == status
    [entry] = new_entries(harness, before)
    assert entry["kind"] == "call.refused" and entry["status"] == status.name
    actor = harness.app.trail.actor(("org:" if caller is hospital else "patient:") + caller.id)
    assert entry["actor"] == actor


def test_a_consent_change_names_the_patient_who_made_it_and_the_version(harness):
    doctor, patient = harness.org(), harness.patient()
    before = len(harness.entries())
    consent = grant(patient, doctor, ["lab"])
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    granted, revoked = new_entries(harness, before)
    actor = harness.app.trail.actor("patient:" + patient.id)
    assert (granted["kind"], granted["actor"], granted["consent"], granted["version"]) == (
        "consent.granted", actor, consent.consent_id, 1)
    assert (revoked["kind"], revoked["actor"], revoked["consent"]) == ("consent.revoked", actor, consent.consent_id)
    assert patient.id not in json.dumps([granted, revoked])  # named by pseudonym only


def test_every_fetch_decision_is_ledgered_allowed_and_denied(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    lab = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=(LAB % patient.id).encode())).record.record_id
    imaging = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, category="imaging", fhir_json=(NOTE % patient.id).encode())).record.record_id
    grant(patient, doctor, ["lab"])
    before = len(harness.entries())
    got = {r.record_id: r.shared for r in doctor.client.fetch(
        patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key)}
    assert got == {lab: True, imaging: False}
    decisions = {e["record"]: e["allowed"] for e in new_entries(harness, before) if e["kind"] == "access.decision"}
    assert decisions == {lab: True, imaging: False}


def test_a_removed_refusal_is_caught_by_the_auditor(harness):
    """Whoever holds the database deletes the entry of a refusal it would rather deny: the chain
    and the signed root no longer agree, and verification names where."""
    hospital, patient = harness.org(), harness.patient()
    with pytest.raises(grpc.RpcError):
        hospital.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    raw = harness.raw_entries()
    verified(harness, raw)
    [seq] = [i for i, e in enumerate(raw) if json.loads(e)["kind"] == "call.refused"
             and json.loads(e)["actor"] == "org:" + hospital.id]
    with pytest.raises(LedgerError, match=f"^ledger entry {seq} is bad"):
        verified(harness, raw[:seq] + raw[seq + 1:])


def test_an_operator_cannot_act_as_a_patient(harness):
    """The operator's key signs only as the operator: a token claiming a patient is refused, and
    no consent is changed in the patient's name."""
    doctor, patient = harness.org(), harness.patient()
    consent = grant(patient, doctor, ["lab"])
    operator_as_patient = harness.client(Caller("patient:" + patient.id, harness.operator_identity))
    with pytest.raises(grpc.RpcError) as err:
        operator_as_patient.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    still = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id))
    assert still.consent.status == consent_pb2.CONSENT_STATUS_ACTIVE
    institutions = harness.operator.registry.ListInstitutions(registry_pb2.ListInstitutionsRequest())
    assert doctor.id in {i.institution_id for i in institutions.institutions}
