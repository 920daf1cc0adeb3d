"""Signed consent receipts over gRPC: every change yields one that verifies under the published
service key, the grantee can list and verify them, a retry returns the same bytes, and the
receipt's ledger position is proved by an inclusion proof from AuditService."""

from __future__ import annotations

import json
import secrets

import grpc
import pytest
from harness import grant
from nacl.signing import SigningKey

from consentry.services.sdk.consent_receipts import ReceiptInvalid, receipt_of, verify_consent_receipt
from consentry.v1 import audit_pb2, consent_pb2, registry_pb2


@pytest.fixture(scope="module")
def keys(harness):
    return harness.operator.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest())


def grant_request(patient, org, categories=("lab", "medication"), **kw):
    return consent_pb2.GrantConsentRequest(patient_id=patient.id, grantee=org.id, notice=org.notice, terms=(
        consent_pb2.ConsentTerms(categories=list(categories), purposes=["TREAT"])), **kw)


def test_every_change_yields_a_receipt_that_verifies(harness, keys):
    doctor, patient = harness.org(), harness.patient()
    key = keys.share_signing_public_key
    granted = patient.client.consent.GrantConsent(grant_request(patient, doctor))
    narrowed = patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=granted.consent.consent_id,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    revoked = patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(
        consent_id=granted.consent.consent_id, reason="moving away"))
    fhir = patient.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(
        consent_id=granted.consent.consent_id)).fhir_json
    imported = patient.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(
        fhir_json=fhir.replace('"status":"inactive"', '"status":"active"'), notice=doctor.notice))
    asked = doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(
        patient_id=patient.id, reason="follow-up", notice=doctor.notice,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).request
    approved = patient.client.consent.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(
        request_id=asked.request_id))
    changes = [(granted, "grant"), (narrowed, "narrowing"), (revoked, "revocation"), (imported, "import"),
               (approved, "approval")]
    for response, change in changes:
        statement = receipt_of(response, key)
        assert statement["format"] == "consentry-consent-receipt/1" and statement["change"] == change
        assert (statement["patient_id"], statement["grantee"], statement["signed_by"]) == (
            patient.id, doctor.id, "patient")
        entry = harness.entry_at(statement["ledger"]["seq"])
        assert entry["consent"] == response.consent.consent_id and entry["time"] == statement["time"]
    assert receipt_of(narrowed, key)["terms"]["categories"] == ["lab"]
    assert receipt_of(granted, key)["notice"]["notice_id"] == doctor.notice.notice_id
    assert receipt_of(approved, key)["request_id"] == asked.request_id
    assert receipt_of(granted, key)["key_id"] == granted.receipt.key_id


def test_a_tampered_receipt_or_another_key_fails(harness, keys):
    doctor, patient = harness.org(), harness.patient()
    receipt = patient.client.consent.GrantConsent(grant_request(patient, doctor)).receipt
    key = keys.share_signing_public_key
    verify_consent_receipt(receipt, key)
    for field in ("statement", "signature"):
        for i in (0, len(getattr(receipt, field)) // 2, len(getattr(receipt, field)) - 1):
            damaged = consent_pb2.ConsentReceipt()
            damaged.CopyFrom(receipt)
            raw = bytearray(getattr(receipt, field))
            raw[i] ^= 0x01
            setattr(damaged, field, bytes(raw))
            with pytest.raises(ReceiptInvalid, match="signature"):
                verify_consent_receipt(damaged, key)
    with pytest.raises(ReceiptInvalid, match="another signing key"):
        verify_consent_receipt(receipt, bytes(SigningKey.generate().verify_key))
    with pytest.raises(ReceiptInvalid, match="no receipt"):
        verify_consent_receipt(consent_pb2.ConsentReceipt(), key)


def test_the_grantee_lists_and_verifies_another_institution_is_refused(harness, keys):
    doctor, other, patient = harness.org(), harness.org(), harness.patient()
    granted = patient.client.consent.GrantConsent(grant_request(patient, doctor))
    consent_id = granted.consent.consent_id
    revoked = patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent_id))
    for client in (doctor.client, patient.client):
        listed = client.consent_receipts(consent_id, keys.share_signing_public_key)
        assert [r.SerializeToString() for r, _ in listed] == [
            granted.receipt.SerializeToString(), revoked.receipt.SerializeToString()]
        assert [s["change"] for _, s in listed] == ["grant", "revocation"]
    paged = doctor.client.consent.ListConsentReceipts(consent_pb2.ListConsentReceiptsRequest(
        consent_id=consent_id, page_size=1))
    assert len(paged.receipts) == 1 and paged.next_page_token
    rest = doctor.client.consent.ListConsentReceipts(consent_pb2.ListConsentReceiptsRequest(
        consent_id=consent_id, page_token=paged.next_page_token))
    assert list(rest.receipts) == [revoked.receipt] and not rest.next_page_token
    with pytest.raises(grpc.RpcError) as err:
        other.client.consent.ListConsentReceipts(consent_pb2.ListConsentReceiptsRequest(consent_id=consent_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    reads = [e for e in harness.entries() if e.get("read") == "consent-receipts"]
    assert reads and all("patient_id" not in json.dumps(e) for e in reads)


def test_an_idempotent_retry_returns_the_same_receipt(harness):
    doctor, patient = harness.org(), harness.patient()
    request = grant_request(patient, doctor, idempotency_key=secrets.token_hex(8))
    first = patient.client.consent.GrantConsent(request)
    again = patient.client.consent.GrantConsent(request)
    assert again.receipt.SerializeToString() == first.receipt.SerializeToString()
    assert again.consent.consent_id == first.consent.consent_id


def test_the_ledger_position_matches_an_inclusion_proof(harness, keys):
    doctor, patient = harness.org(), harness.patient()
    consent = grant(patient, doctor, ["lab"])
    [(_, statement)] = doctor.client.consent_receipts(consent.consent_id, keys.share_signing_public_key)
    doctor.client.prove_receipt(statement, keys.ledger_verifier_key)
    size = doctor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint.tree_size
    proof = doctor.client.audit.GetInclusionProof(audit_pb2.GetInclusionProofRequest(
        seq=statement["ledger"]["seq"], tree_size=size))
    assert proof.leaf_hash.hex() == statement["ledger"]["leaf_hash"]
    forged = {**statement, "ledger": {"seq": statement["ledger"]["seq"], "leaf_hash": "00" * 32}}
    with pytest.raises(ReceiptInvalid, match="not for the receipt's ledger entry"):
        doctor.client.prove_receipt(forged, keys.ledger_verifier_key)


def test_a_proxy_signs_and_the_receipt_says_so(harness, keys):
    doctor, patient, proxy = harness.org(), harness.patient(), harness.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=proxy.id, scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS],
        relationship="daughter"))
    response = proxy.client.consent.GrantConsent(grant_request(patient, doctor))
    statement = receipt_of(response, keys.share_signing_public_key)
    assert (statement["signed_by"], statement["patient_id"]) == ("proxy", patient.id)
    assert proxy.client.consent_receipts(response.consent.consent_id, keys.share_signing_public_key)
