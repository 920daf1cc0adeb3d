"""Idempotent writes over gRPC: a retry with the same key returns the first response and writes
nothing more; the key is taken only by a write that committed."""

from __future__ import annotations

import grpc
import pytest

from consentry.v1 import consent_pb2


def grant_request(patient, org, key: str, grantee: str | None = None) -> consent_pb2.GrantConsentRequest:
    return consent_pb2.GrantConsentRequest(
        patient_id=patient.id, grantee=grantee or org.id, idempotency_key=key, notice=org.notice,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))


def granted(harness, consent_id: str) -> list[dict]:
    return [e for e in harness.entries() if e["kind"] == "consent.granted" and e.get("consent") == consent_id]


def test_a_retried_grant_returns_the_first_response_and_ledgers_once(harness):
    doctor, patient = harness.org(), harness.patient()
    request = grant_request(patient, doctor, "grant-1")
    first = patient.client.consent.GrantConsent(request)
    again = patient.client.consent.GrantConsent(request)
    assert again == first
    assert len(granted(harness, first.consent.consent_id)) == 1
    assert harness.sql("SELECT count(*) FROM consents WHERE patient_id = :p", p=patient.id) == [(1,)]


def test_a_key_is_not_reused_for_a_different_request(harness):
    doctor, patient = harness.org(), harness.patient()
    patient.client.consent.GrantConsent(grant_request(patient, doctor, "grant-2"))
    other = harness.org()
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.GrantConsent(grant_request(patient, other, "grant-2"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == "this idempotency key was already used for a different request"
    assert harness.sql("SELECT count(*) FROM consents WHERE patient_id = :p", p=patient.id) == [(1,)]


def test_a_refused_write_does_not_take_its_key(harness):
    """The key is claimed inside the write's transaction, so a refusal rolls the claim back too:
    the retry is decided afresh, not answered "in progress"."""
    doctor, patient = harness.org(), harness.patient()
    unknown = grant_request(patient, doctor, "grant-3", grantee="no-such-clinic")
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as err:
            patient.client.consent.GrantConsent(unknown)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert harness.sql("SELECT count(*) FROM idempotent_calls WHERE principal = :p AND idempotency_key = 'grant-3'",
                       p="patient:" + patient.id) == [(0,)]
