"""Consent that means what was shown, over gRPC: every grant names the privacy notice the patient
was shown (id, version, content hash), which must be complete in both languages, the grantee's
latest, and cover the terms; "*" covers the categories of the day it was given; authorisations
and Part 2 consents must end."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import field_violations, grant, notice_texts

from consentry.ledger.canonical import canonical_json
from consentry.policy.bundle import Bundle, load_bundle
from consentry.policy.embedded import RegorusEngine
from consentry.policy.engine import FailClosed
from consentry.services.crypto import at_rest
from consentry.services.domain import consents
from consentry.services.domain.validation import CATEGORIES, SENSITIVE_CATEGORIES
from consentry.services.store.models import Consent, Record
from consentry.v1 import common_pb2, consent_pb2, exchange_pb2, registry_pb2

LAB = (b'{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/%s"},'
       b'"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},'
       b'"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-01"}')
NON_SENSITIVE = sorted(c for c in CATEGORIES if c not in SENSITIVE_CATEGORIES)
NOTICE_MISSING = "must name the privacy notice shown to the patient (notice_id, version, content_hash)"


def grant_request(patient, org, notice=None, categories=("lab",), purposes=("TREAT",), **terms):
    return consent_pb2.GrantConsentRequest(
        patient_id=patient.id, grantee=org.id, notice=notice,
        terms=consent_pb2.ConsentTerms(categories=list(categories), purposes=list(purposes), **terms))


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    return err.value


def consent_rows(harness, patient) -> int:
    return harness.sql("SELECT count(*) FROM consents WHERE patient_id = :p", p=patient.id)[0][0]


def in_a_year() -> common_pb2.Period:
    return common_pb2.Period(end=Timestamp(seconds=int(time.time()) + 365 * 86_400))


# -- the notice a grant names ------------------------------------------------------------------------

def test_a_grant_without_a_notice_is_refused_and_writes_nothing(harness):
    doctor, patient = harness.org(), harness.patient()
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err) == {"notice": NOTICE_MISSING}
    assert consent_rows(harness, patient) == 0


def test_a_malformed_notice_reference_names_each_part(harness):
    doctor, patient = harness.org(), harness.patient()
    bad = common_pb2.NoticeRef(notice_id="not-a-notice", version=0, content_hash=b"short")
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor, bad))
    assert field_violations(err) == {
        "notice.notice_id": "must be a privacy notice's id",
        "notice.version": "must be the version shown to the patient",
        "notice.content_hash": "must be the 32-byte SHA-256 of the notice version shown to the patient",
    }


def test_a_notice_of_another_institution_or_with_other_content_is_refused(harness):
    doctor, other, patient = harness.org(), harness.org(), harness.patient()
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor, other.notice))
    assert field_violations(err) == {"notice.notice_id": "must name a published privacy notice of the grantee"}
    altered = common_pb2.NoticeRef(notice_id=doctor.notice.notice_id, version=doctor.notice.version,
                                   content_hash=hashlib.sha256(b"what the patient was shown").digest())
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor, altered))
    assert field_violations(err) == {"notice.content_hash": "must be the SHA-256 of the notice version's content: "
                                                            "the patient was shown other content"}
    assert consent_rows(harness, patient) == 0


def test_a_grant_beyond_what_the_notice_covers_is_refused(harness):
    doctor, patient = harness.org(), harness.patient()
    narrow = harness.publish_notice(doctor.id, categories=["lab"], purposes=["TREAT"])
    err = refused(patient.client.consent.GrantConsent, grant_request(
        patient, doctor, narrow, categories=["lab", "medication"], purposes=["TREAT", "HPAYMT"]))
    assert field_violations(err) == {
        "terms.purposes": "must be covered by the notice, which does not name HPAYMT",
        "terms.categories": "must be covered by the notice, which does not name medication",
    }
    # "*" asks for every non-sensitive category, which this notice does not cover either.
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor, narrow, categories=["*"]))
    assert "terms.categories" in field_violations(err)
    assert patient.client.consent.GrantConsent(grant_request(patient, doctor, narrow)).consent.notice == narrow


def test_a_grant_under_a_superseded_notice_version_is_a_failed_precondition(harness):
    doctor, patient = harness.org(), harness.patient()
    newer = doctor.client.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
        institution_id=doctor.id, notice_id=doctor.notice.notice_id, purposes=["TREAT"], categories=["lab"],
        texts=notice_texts(doctor.id))).ref
    assert newer.version == doctor.notice.version + 1 and newer.content_hash != doctor.notice.content_hash
    err = refused(patient.client.consent.GrantConsent, grant_request(patient, doctor, doctor.notice))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == "a newer version of the privacy notice is published: show the patient that one"
    assert patient.client.consent.GrantConsent(grant_request(patient, doctor, newer)).consent.notice == newer


# -- publishing a notice -------------------------------------------------------------------------------

def test_an_incomplete_notice_is_refused_naming_every_missing_part(harness):
    doctor = harness.org()
    english = notice_texts(doctor.id)[1]
    english.retention, english.how_to_withdraw, english.necessity_and_impact = "", " ", ""
    err = refused(doctor.client.registry.PublishPrivacyNotice, registry_pb2.PublishPrivacyNoticeRequest(
        institution_id=doctor.id, texts=[english]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err) == {
        "purposes": "must name at least one purpose",
        "categories": "must name at least one category",
        "texts[0].necessity_and_impact": "is required",
        "texts[0].retention": "is required",
        "texts[0].how_to_withdraw": "is required",
        "texts": "must include the notice in zh-Hans",
    }
    twice = registry_pb2.PublishPrivacyNoticeRequest(institution_id=doctor.id, purposes=["TREAT"], categories=["lab"],
                                                     texts=[notice_texts(doctor.id)[1]] * 2)
    assert field_violations(refused(doctor.client.registry.PublishPrivacyNotice, twice)) == {
        "texts[1].language": "must be one of en, zh-Hans, each once", "texts": "must include the notice in zh-Hans"}


def test_only_the_institution_or_the_operator_publishes_its_notice(harness):
    doctor, other, patient = harness.org(), harness.org(), harness.patient()
    request = registry_pb2.PublishPrivacyNoticeRequest(institution_id=doctor.id, purposes=["TREAT"],
                                                       categories=["lab"], texts=notice_texts(doctor.id))
    for client in (other.client, patient.client):
        assert refused(client.registry.PublishPrivacyNotice, request).code() == grpc.StatusCode.PERMISSION_DENIED
    published = doctor.client.registry.PublishPrivacyNotice(request)
    entry = [e for e in harness.entries() if e["kind"] == "notice.published" and e["notice"] == published.ref.notice_id]
    assert entry[0]["content_hash"] == published.ref.content_hash.hex()
    assert "Ltd." not in json.dumps(entry)  # the ledger names the notice, never its text


def test_a_notice_hash_is_recomputed_from_the_published_notice_alone(harness):
    """docs/notices.md, "Content hash": what a patient's app checks before showing the notice."""
    doctor, reader = harness.org(), harness.patient()
    got = reader.client.registry.GetPrivacyNotice(registry_pb2.GetPrivacyNoticeRequest(
        notice_id=doctor.notice.notice_id))
    notice = got.notice
    document = {
        "format": "consentry-privacy-notice/1", "notice_id": notice.notice_id, "version": notice.version,
        "institution_id": notice.institution_id, "purposes": list(notice.purposes),
        "categories": list(notice.categories),
        "texts": [{"language": t.language, **{f.name: getattr(t, f.name) for f in registry_pb2.NoticeText.DESCRIPTOR
                                              .fields if f.name != "language"}} for t in notice.texts],
    }
    assert hashlib.sha256(canonical_json(document)).digest() == notice.content_hash == doctor.notice.content_hash
    assert [t.language for t in notice.texts] == ["en", "zh-Hans"]
    assert got.ref == doctor.notice


# -- the notice travels with the consent ----------------------------------------------------------------

def test_every_consent_version_names_its_notice_in_every_form(harness):
    doctor, patient, auditor = harness.org(), harness.patient(), harness.auditor()
    consent = grant(patient, doctor, ["lab", "medication"])
    patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    got = doctor.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=consent.consent_id))
    assert [v.notice for v in got.history] == [doctor.notice, doctor.notice]
    # What the patient signed names the notice: the evidence's request bytes carry it.
    [signed, _narrowed] = auditor.client.consent_evidence(consent.consent_id)
    assert consent_pb2.GrantConsentRequest.FromString(signed.request).notice == doctor.notice
    granted = json.loads(signed.ledger_entry)
    assert (granted["notice"], granted["notice_version"], granted["notice_sha256"]) == (
        doctor.notice.notice_id, doctor.notice.version, doctor.notice.content_hash.hex())
    fhir = json.loads(patient.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(
        consent_id=consent.consent_id)).fhir_json)
    assert fhir["policy"] == [{"uri": f"urn:consentry:notice:{doctor.notice.notice_id}:{doctor.notice.version}"
                                      f":sha256:{doctor.notice.content_hash.hex()}"}]


def test_an_access_request_shows_its_notice_and_its_approval_is_given_under_it(harness):
    doctor, patient = harness.org(), harness.patient()
    asked = doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(
        patient_id=patient.id, reason="follow-up", notice=doctor.notice,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).request
    shown = patient.client.consent.GetAccessRequest(consent_pb2.GetAccessRequestRequest(request_id=asked.request_id))
    assert shown.request.notice == doctor.notice
    approved = patient.client.consent.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(
        request_id=asked.request_id)).consent
    assert approved.notice == doctor.notice
    err = refused(doctor.client.consent.RequestAccess, consent_pb2.RequestAccessRequest(
        patient_id=patient.id, reason="follow-up", terms=consent_pb2.ConsentTerms(categories=["lab"],
                                                                                  purposes=["TREAT"])))
    assert field_violations(err) == {"notice": NOTICE_MISSING}


def test_an_import_names_its_notice(harness):
    doctor, patient = harness.org(), harness.patient()
    exported = patient.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(
        consent_id=grant(patient, doctor, ["lab"]).consent_id)).fhir_json
    err = refused(patient.client.consent.ImportConsent, consent_pb2.ImportConsentRequest(fhir_json=exported))
    assert field_violations(err) == {"notice": NOTICE_MISSING}
    imported = patient.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(
        fhir_json=exported, notice=doctor.notice)).consent
    assert imported.notice == doctor.notice
    other = harness.publish_notice(doctor.id)  # another notice of the same grantee
    err = refused(patient.client.consent.ImportConsent, consent_pb2.ImportConsentRequest(
        fhir_json=exported, notice=other))
    assert field_violations(err) == {"notice": "must be the privacy notice the resource's policy names"}
    foreign = json.loads(exported)
    foreign["policy"] = [{"uri": "https://example.org/our-terms"}]
    err = refused(patient.client.consent.ImportConsent, consent_pb2.ImportConsentRequest(
        fhir_json=json.dumps(foreign), notice=doctor.notice))
    assert field_violations(err) == {
        "fhir_json.policy[0].uri": "must be a privacy notice: urn:consentry:notice:<id>:<version>:sha256:<hex>"}
    del foreign["policy"]
    assert patient.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(
        fhir_json=json.dumps(foreign), notice=other)).consent.notice == other


# -- "*" is what it meant on the day ------------------------------------------------------------------

def test_a_broad_grant_keeps_the_categories_of_its_day(harness):
    doctor, patient = harness.org(), harness.patient()
    consent = grant(patient, doctor, ["*"])
    assert list(consent.broad_categories) == NON_SENSITIVE
    [(stored,)] = harness.sql("SELECT broad_categories FROM consents WHERE consent_id = :c", c=consent.consent_id)
    assert (json.loads(stored) if isinstance(stored, str) else stored) == NON_SENSITIVE


def with_category(bundle: Bundle, category: str) -> Bundle:
    """The policy bundle with one more non-sensitive category, which physicians read for TREAT."""
    data = copy.deepcopy(dict(bundle.data))
    data["vocabulary"]["categories"].append(category)
    data["duties"]["roles"]["physician"]["purposes"]["TREAT"].append(category)
    return dataclasses.replace(bundle, data=data)


def test_a_category_added_to_the_vocabulary_later_is_not_covered_by_an_earlier_broad_consent(harness):
    """The server's policy data gains a non-sensitive category "wearables" after the patient gave
    a consent for "*", and the hospital files a record under it: the earlier consent does not
    share it. A consent whose "*" was given with "wearables" among its categories does."""
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    record = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode())).record
    consent = grant(patient, doctor, ["*"])
    original = harness.app.policy
    harness.app.policy = FailClosed(RegorusEngine(with_category(load_bundle(), "wearables")))
    try:
        # As the service would relabel it: the body sealed again for its new metadata.
        with harness.app.db.write() as s:
            row = s.get(Record, record.record_id)
            old = at_rest.RecordMeta.of(row)
            new = dataclasses.replace(old, category="wearables", meta_version=old.meta_version + 1)
            sealed = at_rest.reseal_record(row.record_id, at_rest.SealedRecord(row.ciphertext, row.wrapped_key,
                                                                               row.kek_id), harness.app.kek, old, new)
            row.category, row.meta_version = new.category, new.meta_version
            row.ciphertext, row.wrapped_key, row.kek_id = sealed.ciphertext, sealed.wrapped_key, sealed.kek_id
        [outcome] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                        service_key=harness.service_key)
        assert not outcome.shared
        assert f"consent {consent.consent_id} does not cover category wearables" in outcome.reasons
        with harness.app.db.write() as s:  # as if given when the vocabulary had it (its MAC set again)
            [row] = s.query(Consent).where(Consent.consent_id == consent.consent_id)
            row.broad_categories = [*NON_SENSITIVE, "wearables"]
            consents.seal_consent(harness.app.trail.pseudonym_key, row)
        [outcome] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                        service_key=harness.service_key)
        assert outcome.shared
    finally:
        harness.app.policy = original


# -- consents that must end ----------------------------------------------------------------------------

def test_a_research_consent_without_an_end_is_refused(harness):
    registry, patient = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher"), \
        harness.patient()
    request = grant_request(patient, registry, registry.notice, purposes=["HRESCH"],
                            kind=consent_pb2.CONSENT_KIND_RESEARCH)
    err = refused(patient.client.consent.GrantConsent, request)
    assert field_violations(err) == {"terms.validity.end": "must be set: a research consent is an authorisation "
                                                           "and must end"}
    request.terms.validity.CopyFrom(in_a_year())
    assert patient.client.consent.GrantConsent(request).consent.validity.end.seconds > 0


def test_a_part_2_consent_without_an_end_is_refused_wherever_it_is_made(harness):
    doctor, patient = harness.org(), harness.patient()
    why = "must be set: a consent naming substance-use must end"
    err = refused(patient.client.consent.GrantConsent, grant_request(
        patient, doctor, doctor.notice, categories=["lab", "substance-use"]))
    assert field_violations(err) == {"terms.validity.end": why}
    err = refused(doctor.client.consent.RequestAccess, consent_pb2.RequestAccessRequest(
        patient_id=patient.id, reason="r", notice=doctor.notice,
        terms=consent_pb2.ConsentTerms(categories=["substance-use"], purposes=["TREAT"])))
    assert field_violations(err) == {"terms.validity.end": why}
    lasting = grant(patient, doctor, ["substance-use"], validity=in_a_year())
    fhir = json.loads(patient.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(
        consent_id=lasting.consent_id)).fhir_json)
    del fhir["provision"]["period"]
    err = refused(patient.client.consent.ImportConsent, consent_pb2.ImportConsentRequest(
        fhir_json=json.dumps(fhir), notice=doctor.notice))
    assert field_violations(err) == {"fhir_json.provision.period.end": why}
