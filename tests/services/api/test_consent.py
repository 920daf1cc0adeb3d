"""ConsentService over gRPC: grant, narrow, revoke, requests, proxies, and who may do what."""

from __future__ import annotations

import grpc
import pytest
from harness import field_violations, grant

from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},'
       b'"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-01"}')


@pytest.fixture
def trio(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                     fhir_json=LAB % patient.id.encode()))
    return hospital, doctor, patient


def shared(harness, org, patient, purpose="TREAT"):
    return [r for r in org.client.fetch(patient.id, purpose, recipient_key=org.encryption,
                                        service_key=harness.service_key) if r.shared]


def test_grant_validates_terms(harness, trio):
    _, doctor, patient = trio
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id=patient.id, grantee=doctor.id, notice=doctor.notice,
            terms=consent_pb2.ConsentTerms(categories=["lab", "astrology"], purposes=["TREAT", "FUN"])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"terms.categories[1]", "terms.purposes[1]"} <= set(field_violations(err.value))


def test_only_the_patient_grants(harness, trio):
    _, doctor, patient = trio
    stranger = harness.patient()
    for client in (stranger.client, doctor.client):
        with pytest.raises(grpc.RpcError) as err:
            client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
                patient_id=patient.id, grantee=doctor.id, notice=doctor.notice,
                terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_narrowing_supersedes_and_keeps_history(harness, trio):
    _, doctor, patient = trio
    consent = grant(patient, doctor, ["lab", "medication"], purposes=("TREAT",))
    narrowed = patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent.consent_id,
        terms=consent_pb2.ConsentTerms(categories=["medication"], purposes=["TREAT"]))).consent
    assert narrowed.version == 2 and list(narrowed.categories) == ["medication"]
    got = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id))
    assert [h.status for h in got.history] == [consent_pb2.CONSENT_STATUS_SUPERSEDED, consent_pb2.CONSENT_STATUS_ACTIVE]
    assert shared(harness, doctor, patient) == []  # lab is no longer covered
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
            consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "terms.categories" in field_violations(err.value)


def test_revoke_takes_effect_for_the_next_fetch(harness, trio):
    _, doctor, patient = trio
    consent = grant(patient, doctor, ["lab"])
    assert len(shared(harness, doctor, patient)) == 1
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    with pytest.raises(grpc.RpcError) as err:  # no consent left: the doctor is no longer related
        shared(harness, doctor, patient)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_access_request_approved_narrower(harness, trio):
    _, doctor, patient = trio
    asked = doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=doctor.notice,
        patient_id=patient.id, reason="follow-up after discharge",
        terms=consent_pb2.ConsentTerms(categories=["lab", "medication"], purposes=["TREAT"]))).request
    pending = patient.client.consent.ListAccessRequests(consent_pb2.ListAccessRequestsRequest(
        patient_id=patient.id, status=consent_pb2.ACCESS_REQUEST_STATUS_PENDING)).requests
    assert [r.request_id for r in pending] == [asked.request_id] and pending[0].reason == "follow-up after discharge"
    approved = patient.client.consent.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(
        request_id=asked.request_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    assert approved.request.status == consent_pb2.ACCESS_REQUEST_STATUS_APPROVED
    assert list(approved.consent.categories) == ["lab"] and approved.consent.grantee == doctor.id
    seen = doctor.client.consent.GetAccessRequest(consent_pb2.GetAccessRequestRequest(request_id=asked.request_id))
    assert seen.request.consent_id == approved.consent.consent_id
    assert len(shared(harness, doctor, patient)) == 1


def test_access_request_declined(harness, trio):
    _, doctor, patient = trio
    asked = doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=doctor.notice,
        patient_id=patient.id, reason="marketing",
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).request
    patient.client.consent.DeclineAccessRequest(consent_pb2.DeclineAccessRequestRequest(
        request_id=asked.request_id, reason="no"))
    seen = doctor.client.consent.GetAccessRequest(
        consent_pb2.GetAccessRequestRequest(request_id=asked.request_id)).request
    assert seen.status == consent_pb2.ACCESS_REQUEST_STATUS_DECLINED and seen.decline_reason == "no"
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(request_id=asked.request_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_proxy_manages_consent_and_the_ledger_names_both(harness, trio):
    _, doctor, patient = trio
    daughter = harness.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS, consent_pb2.PROXY_SCOPE_READ_HISTORY]))
    consent = daughter.client.consent.GrantConsent(
        consent_pb2.GrantConsentRequest(patient_id=patient.id, grantee=doctor.id, notice=doctor.notice,
                                        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).consent
    assert consent.created_by == "patient:" + daughter.id
    [entry] = [e for e in harness.entries() if e.get("consent") == consent.consent_id]
    pseudonym = harness.pseudonym
    assert entry["actor"] == "patient:" + pseudonym(daughter.id) and entry["patient"] == pseudonym(patient.id)
    assert entry["on_behalf_of"] == "patient"
    patient.client.consent.RemoveProxy(consent_pb2.RemoveProxyRequest(patient_id=patient.id, proxy_id=daughter.id))
    with pytest.raises(grpc.RpcError) as err:  # no longer a proxy: the consent is not hers to see
        daughter.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_proxy_cannot_name_more_proxies(harness, trio):
    _, _, patient = trio
    daughter, stranger = harness.patient(), harness.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS]))
    with pytest.raises(grpc.RpcError) as err:
        daughter.client.consent.AddProxy(consent_pb2.AddProxyRequest(
            patient_id=patient.id, proxy_id=stranger.id, relationship="friend",
            scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_refused_attempt_on_a_consent_shows_in_the_patients_ledger(harness, trio):
    _, doctor, patient = trio
    consent = grant(patient, doctor, ["lab"])
    stranger = harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        stranger.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # as for an id that does not exist
    [refusal] = [e for e in harness.entries() if e["kind"] == "call.refused" and e["method"].endswith("/RevokeConsent")
                 and e["actor"] == "patient:" + harness.pseudonym(stranger.id)]
    # The stranger may not act for the patient: the entry names no one, yet the patient's own
    # listing of their entries holds it.
    assert "patient" not in refusal and patient.id not in str(refusal)
    listed = patient.client.audit.ListEntries(audit_pb2.ListEntriesRequest(patient_id=patient.id, page_size=1000))
    assert refusal["seq"] in {e.seq for e in listed.entries}


def test_an_access_history_page_token_must_come_from_a_page(harness):
    patient = harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
            patient_id=patient.id, page_token="next"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"page_token": "must be a token from an earlier page"}
