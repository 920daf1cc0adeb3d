"""PreviewConsent over gRPC: the real policy's answer to proposed terms, before granting, equal
to what a fetch after granting them shares; ledgered, validated as GrantConsent, patients only."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest
from harness import field_violations, grant

from consentry.services.cli.demo import discharge_records
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


@pytest.fixture(scope="module")
def story(harness):
    """A hospital holding a patient's discharge records (one a psychiatric note), a family doctor."""
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR)
    for title, body in discharge_records(patient.id).items():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
    return hospital, patient, doctor


def preview(patient, org, categories, purposes=("TREAT",), **kw):
    return patient.client.consent.PreviewConsent(consent_pb2.PreviewConsentRequest(
        patient_id=patient.id, grantee=org.id,
        terms=consent_pb2.ConsentTerms(categories=list(categories), purposes=list(purposes)), **kw))


def counts(groups) -> Counter:
    found: Counter = Counter()
    for g in groups:
        found[g.category] += g.record_count
    return found


def test_preview_matches_a_fetch_after_granting_the_same_terms(harness, story):
    hospital, patient, doctor = story
    before = len(harness.entries())
    answer = preview(patient, doctor, ["*"])
    assert answer.shared and all(g.holder == hospital.id and g.purpose == "TREAT" for g in answer.shared)
    assert len(harness.entries()) == before + 1  # the preview entry, nothing else: no disclosure
    consent = grant(patient, doctor, ["*"])
    got = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                   service_key=harness.service_key))
    assert counts(answer.shared) == Counter(r.category for r in got if r.shared)
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))


def test_a_sensitive_category_not_named_stays_withheld_with_the_reason(harness, story):
    _, patient, doctor = story
    answer = preview(patient, doctor, ["*"])
    [note] = [g for g in answer.withheld if g.category == "mental-health"]
    assert note.record_count == 1
    assert any("mental-health is sensitive" in r for r in note.reasons)
    named = preview(patient, doctor, ["*", "mental-health"])
    assert "mental-health" in counts(named.shared)


def test_the_preview_is_ledgered_by_pseudonym_only(harness, story):
    _, patient, doctor = story
    answer = preview(patient, doctor, ["lab"], role="nurse")
    entry = harness.entry_at(answer.ledger_seq)
    assert entry["kind"] == "consent.previewed" and entry["patient"] == harness.pseudonym(patient.id)
    assert entry["grantee"] == "org:" + doctor.id and entry["role"] == "nurse"
    assert patient.id not in str(entry)
    assert entry["shared"] == sum(g.record_count for g in answer.shared)


def test_invalid_terms_are_refused_as_grant_refuses_them(harness, story):
    _, patient, doctor = story
    with pytest.raises(grpc.RpcError) as err:
        preview(patient, doctor, ["lab", "astrology"], purposes=["TREAT", "FUN"], role="wizard")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"terms.categories[1]", "terms.purposes[1]", "role"} <= set(field_violations(err.value))
    with pytest.raises(grpc.RpcError) as grant_err:
        patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id=patient.id, grantee=doctor.id, notice=doctor.notice,
            terms=consent_pb2.ConsentTerms(categories=["lab", "astrology"], purposes=["TREAT", "FUN"])))
    wanted = {k: v for k, v in field_violations(grant_err.value).items() if k.startswith("terms")}
    assert {k: v for k, v in field_violations(err.value).items() if k.startswith("terms")} == wanted


def test_only_the_patient_or_their_proxy_previews(harness, story):
    hospital, patient, doctor = story
    stranger = harness.patient()
    for client in (stranger.client, hospital.client):
        with pytest.raises(grpc.RpcError) as err:
            client.consent.PreviewConsent(consent_pb2.PreviewConsentRequest(
                patient_id=patient.id, grantee=doctor.id,
                terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.PreviewConsent(consent_pb2.PreviewConsentRequest(
            patient_id=patient.id, grantee="no-such-org",
            terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
