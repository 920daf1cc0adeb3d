"""Repudiation: no one can deny what they did, and no one can make the record of it deny it.

Every decision and every refusal leaves an entry that names who acted (the patient by
pseudonym), and an entry removed or altered afterwards — by an operator, or anyone with the
database — is caught by an auditor holding only the ledger's public key.
"""

from __future__ import annotations

import hashlib
import json
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import Harness, Person, field_violations, grant
from nacl.signing import SigningKey

from consentry.ledger import NoteVerifier, verify_log
from consentry.ledger.canonical import canonical_json
from consentry.ledger.errors import LedgerError
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import DisclosureNotProven
from consentry.services.sdk.consent_evidence import EvidenceNotProven, verify_consent_evidence
from consentry.v1 import audit_pb2, common_pb2, consent_pb2, exchange_pb2, registry_pb2

LAB = ('{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       '"subject":{"reference":"Patient/%s"},'
       '"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-19"}')
NOTE = ('{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/%s"},'
        '"content":[{"attachment":{"contentType":"text/plain"}}]}')
GRANT = "/consentry.v1.ConsentService/GrantConsent"


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
    actor = harness.actor(("org:" if caller is hospital else "patient:") + caller.id)
    assert entry["actor"] == actor


def test_a_consent_change_names_the_patient_who_made_it_and_the_version(harness):
    doctor, patient = harness.org(), harness.patient()
    before = len(harness.entries())
    consent = grant(patient, doctor, ["lab"])
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    granted, revoked = new_entries(harness, before)
    actor = harness.actor("patient:" + patient.id)
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
    raw = [entry for _seq, entry in harness.entries_by_seq(own_reads=True)]
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


# -- consent that cannot be repudiated: the patient's signed request, provable offline ----------

DAY = 86_400


def period(start_days: int, end_days: int) -> common_pb2.Period:
    now = int(time.time())
    return common_pb2.Period(start=Timestamp(seconds=now + start_days * DAY),
                             end=Timestamp(seconds=now + end_days * DAY))


def replaced(evidence: consent_pb2.ConsentEvidence, **fields) -> consent_pb2.ConsentEvidence:
    copy = consent_pb2.ConsentEvidence()
    copy.CopyFrom(evidence)
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


def public(person) -> bytes:
    return bytes(person.identity.verify_key)


def test_a_grant_is_proven_offline_with_the_patients_key(harness):
    """The auditor holds the patient's public key and the ledger's key; the service is trusted for
    nothing: the token verifies, binds the request's bytes, the request asks for what the ledger
    entry records, the entry names the token and is in the signed ledger."""
    doctor, patient, auditor = harness.org(), harness.patient(), harness.auditor()
    validity = period(0, 30)
    consent = grant(patient, doctor, ["lab", "medication"], purposes=("TREAT",), validity=validity)
    [evidence] = auditor.client.consent_evidence(consent.consent_id)
    change = verify_consent_evidence(evidence, public(patient), consent=consent)
    assert change.signer == "patient:" + patient.id and change.method == GRANT
    assert (change.request.grantee, list(change.request.terms.categories)) == (doctor.id, ["lab", "medication"])
    assert change.entry["kind"] == "consent.granted" and change.entry["consent"] == consent.consent_id
    # The entry is the ledger's own, under a checkpoint signed with the ledger's key.
    proof = auditor.client.prove_entry(evidence.ledger_seq, evidence.ledger_entry, harness.app.ledger_verifier_key)
    assert proof.entry["authorization"] == hashlib.sha256(evidence.token.encode()).hexdigest()
    assert harness.entry_at(evidence.ledger_seq) == change.entry
    # The grantee and the patient read the same evidence.
    assert doctor.client.consent_evidence(consent.consent_id) == [evidence]
    assert patient.client.consent_evidence(consent.consent_id, version=1) == [evidence]


def test_tampered_evidence_is_not_proof(harness):
    doctor, patient, auditor = harness.org(), harness.patient(), harness.auditor()
    consent = grant(patient, doctor, ["lab"])
    other = grant(patient, doctor, ["medication"])
    [evidence] = auditor.client.consent_evidence(consent.consent_id)
    [other_evidence] = auditor.client.consent_evidence(other.consent_id)

    wider = consent_pb2.GrantConsentRequest.FromString(evidence.request)
    wider.terms.categories.append("mental-health")
    tampered = replaced(evidence, request=wider.SerializeToString())
    with pytest.raises(EvidenceNotProven, match="issued for a different request"):
        verify_consent_evidence(tampered, public(patient))

    with pytest.raises(EvidenceNotProven, match="signed by another key"):
        verify_consent_evidence(evidence, bytes(SigningKey.generate().verify_key))
    with pytest.raises(EvidenceNotProven, match="signed by another key"):
        verify_consent_evidence(evidence, bytes(harness.operator_identity.verify_key))

    # Another change's entry, and this entry with its authorization rewritten (kept canonical).
    swapped = replaced(evidence, ledger_seq=other_evidence.ledger_seq, ledger_entry=other_evidence.ledger_entry)
    entry = json.loads(evidence.ledger_entry)
    entry["authorization"] = hashlib.sha256(b"another token").hexdigest()
    rewritten = replaced(evidence, ledger_entry=canonical_json(entry))
    for bad in (swapped, rewritten):
        with pytest.raises(EvidenceNotProven, match="authorization is not SHA-256 of this token"):
            verify_consent_evidence(bad, public(patient))

    # A rewritten entry cannot pass as the ledger's: its leaf is not in the signed tree.
    with pytest.raises(DisclosureNotProven):
        auditor.client.prove_entry(rewritten.ledger_seq, rewritten.ledger_entry, harness.app.ledger_verifier_key)
    # And a consent edited in the database no longer matches what the patient signed.
    verify_consent_evidence(evidence, public(patient), consent=consent)
    harness.sql("UPDATE consents SET valid_until_ns = :until WHERE consent_id = :c",
                until=(int(time.time()) + 3650 * DAY) * 1_000_000_000, c=consent.consent_id)
    edited = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id)).consent
    with pytest.raises(EvidenceNotProven, match="validity is not the one signed"):
        verify_consent_evidence(evidence, public(patient), consent=edited)


def test_every_signed_change_is_kept_and_proven(harness):
    doctor, patient, daughter, auditor = harness.org(), harness.patient(), harness.patient(), harness.auditor()
    consent = grant(patient, doctor, ["lab", "medication"])
    c = patient.client.consent
    c.NarrowConsent(consent_pb2.NarrowConsentRequest(consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(
        categories=["lab"], purposes=["TREAT"])))
    c.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id, reason="moved away"))
    asked = [doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=doctor.notice,
        patient_id=patient.id, reason="follow-up", terms=consent_pb2.ConsentTerms(
            categories=["lab"], purposes=["TREAT"]))).request.request_id for _ in range(2)]
    approved = c.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(request_id=asked[0])).consent
    c.DeclineAccessRequest(consent_pb2.DeclineAccessRequestRequest(request_id=asked[1], reason="no"))
    exported = c.ExportConsent(consent_pb2.ExportConsentRequest(consent_id=approved.consent_id)).fhir_json
    imported = c.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=exported, notice=doctor.notice)).consent
    c.AddProxy(consent_pb2.AddProxyRequest(patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
                                           scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS]))
    by_proxy = grant(Person(patient.id, daughter.client, daughter.identity), doctor, ["imaging"])
    c.RemoveProxy(consent_pb2.RemoveProxyRequest(patient_id=patient.id, proxy_id=daughter.id))

    pseudonym = harness.pseudonym(patient.id)
    signed = [e for e in harness.entries() if "authorization" in e and e.get("patient") == pseudonym]
    methods = []
    for entry in signed:
        evidence = auditor.client.change_evidence(entry["authorization"])
        signer = daughter if evidence.signer == "patient:" + daughter.id else patient
        change = verify_consent_evidence(evidence, public(signer))
        methods.append((change.method.rsplit("/", 1)[1], signer is daughter))
    assert methods == [("GrantConsent", False), ("NarrowConsent", False), ("RevokeConsent", False),
                       ("ApproveAccessRequest", False), ("ApproveAccessRequest", False),
                       ("DeclineAccessRequest", False), ("ImportConsent", False), ("AddProxy", False),
                       ("GrantConsent", True), ("RemoveProxy", False)]
    # A consent's evidence: every change of it, oldest first, and one version's alone.
    history = auditor.client.consent_evidence(consent.consent_id)
    assert [e.method.rsplit("/", 1)[1] for e in history] == ["GrantConsent", "NarrowConsent", "RevokeConsent"]
    assert [e.version for e in auditor.client.consent_evidence(consent.consent_id, version=2)] == [2, 2]
    for consent_id in (approved.consent_id, imported.consent_id, by_proxy.consent_id):
        [evidence] = auditor.client.consent_evidence(consent_id)
        assert evidence.consent_id == consent_id and evidence.version == 1
    # The proxy's grant is theirs, not the patient's: their key proves it, the patient's does not.
    [evidence] = auditor.client.consent_evidence(by_proxy.consent_id)
    assert verify_consent_evidence(evidence, public(daughter)).entry["on_behalf_of"] == "patient"
    with pytest.raises(EvidenceNotProven):
        verify_consent_evidence(evidence, public(patient))


def test_consent_evidence_is_for_those_it_concerns(harness):
    doctor, stranger_org, patient, stranger = harness.org(), harness.org(), harness.patient(), harness.patient()
    consent = grant(patient, doctor, ["lab"])
    request = consent_pb2.GetConsentEvidenceRequest(consent_id=consent.consent_id)
    [evidence] = doctor.client.consent.GetConsentEvidence(request).evidence
    authorization = json.loads(evidence.ledger_entry)["authorization"]
    for caller in (stranger_org, stranger):
        for asked in (request, consent_pb2.GetConsentEvidenceRequest(authorization=authorization)):
            with pytest.raises(grpc.RpcError) as err:
                caller.client.consent.GetConsentEvidence(asked)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        harness.operator.consent.GetConsentEvidence(request)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        doctor.client.consent.GetConsentEvidence(consent_pb2.GetConsentEvidenceRequest(
            consent_id=consent.consent_id, authorization=authorization))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {"consent_id"}
