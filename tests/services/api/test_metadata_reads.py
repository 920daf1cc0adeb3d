"""Every metadata read about a patient is one ledger entry per call (HIPAA 164.312(b)): who read,
which kind of read, how many items, the patient by the ledger pseudonym, and nothing the items
say."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import Harness, grant

from consentry.services.cli.demo import discharge_records
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2


@pytest.fixture(scope="module")
def world(harness):
    hospital, doctor = harness.org(), harness.org(practitioner="dr-chen")
    patient, daughter = harness.patient(), harness.patient()
    for title, body in discharge_records(patient.id).items():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY, consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS]))
    consent = grant(patient, doctor, ["lab"])
    return hospital, doctor, patient, daughter, consent


def appended_by(harness: Harness, call) -> list[dict]:
    """The entries `call` appended, read from the database's own ledger table."""
    [(size,)] = harness.sql("SELECT COUNT(*) FROM ledger_entries") or [(0,)]
    call()
    rows = harness.sql("SELECT entry FROM ledger_entries WHERE seq >= :s ORDER BY seq", s=size) or []
    return [json.loads(r[0]) for r in rows]


def only_read(harness: Harness, call) -> dict:
    [entry] = appended_by(harness, call)
    assert entry["kind"] == "metadata.read"
    return entry


def listed_for(harness: Harness, patient_id: str, seq: int) -> bool:
    rows = harness.sql("SELECT 1 FROM ledger_subjects WHERE pseudonym = :p AND seq = :s",
                       p=harness.pseudonym(patient_id), s=seq)
    return bool(rows)


def test_a_holder_listing_records_is_ledgered_with_role_practitioner_and_count(harness, world):
    hospital, _doctor, patient, _daughter, _consent = world
    entry = only_read(harness, lambda: hospital.client.exchange.ListRecords(
        exchange_pb2.ListRecordsRequest(patient_id=patient.id, page_size=3)))
    assert (entry["actor"], entry["role"], entry["practitioner"]) == ("org:" + hospital.id, "physician", "dr-test")
    assert (entry["read"], entry["count"]) == ("records", 3)
    assert entry["patient"] == harness.pseudonym(patient.id)
    # No labels, categories, record ids or resource types: the read, not what it showed.
    assert set(entry) == {"kind", "time", "actor", "patient", "read", "count", "role", "practitioner", "seq", "prev",
                          "salt"}


def test_a_proxy_reading_the_records_is_ledgered_as_acting_for_the_patient(harness, world):
    *_, patient, daughter, _consent = world
    entry = only_read(harness, lambda: daughter.client.exchange.ListRecords(
        exchange_pb2.ListRecordsRequest(patient_id=patient.id)))
    assert entry["actor"] == "patient:" + harness.pseudonym(daughter.id)
    assert (entry["read"], entry["count"], entry["on_behalf_of"]) == ("records", 4, "patient")
    assert entry["patient"] == harness.pseudonym(patient.id) and listed_for(harness, patient.id, entry["seq"])


def test_consent_reads_are_ledgered_for_the_grantee_and_the_patient(harness, world):
    _hospital, doctor, patient, _daughter, consent = world
    pseudonym = harness.pseudonym(patient.id)
    reads = {
        "consent": lambda: doctor.client.consent.GetConsent(
            consent_pb2.GetConsentRequest(consent_id=consent.consent_id)),
        "consent-export": lambda: doctor.client.consent.ExportConsent(
            consent_pb2.ExportConsentRequest(consent_id=consent.consent_id)),
        "consents": lambda: patient.client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id)),
        "consent-evidence": lambda: patient.client.consent.GetConsentEvidence(
            consent_pb2.GetConsentEvidenceRequest(consent_id=consent.consent_id)),
        "proxies": lambda: patient.client.consent.ListProxies(consent_pb2.ListProxiesRequest(patient_id=patient.id)),
        "access-history": lambda: patient.client.consent.GetAccessHistory(
            consent_pb2.GetAccessHistoryRequest(patient_id=patient.id)),
    }
    for read, call in reads.items():
        entry = only_read(harness, call)
        assert (entry["read"], entry["patient"]) == (read, pseudonym), read
        assert entry["count"] == (0 if read == "access-history" else 1)
        assert listed_for(harness, patient.id, entry["seq"])
    assert only_read(harness, reads["consent"])["actor"] == "org:" + doctor.id


def test_an_auditor_reading_the_consent_evidence_is_ledgered(harness, world):
    *_, patient, _daughter, consent = world
    auditor = harness.auditor()
    entry = only_read(harness, lambda: auditor.client.consent.GetConsentEvidence(
        consent_pb2.GetConsentEvidenceRequest(consent_id=consent.consent_id)))
    assert (entry["actor"], entry["read"], entry["count"]) == ("auditor:" + auditor.id, "consent-evidence", 1)
    assert entry["patient"] == harness.pseudonym(patient.id)


def test_an_auditor_reading_entries_is_one_entry_per_page_listed_for_each_patient_on_it(harness, world):
    hospital, _doctor, patient, _daughter, _consent = world
    auditor = harness.auditor()
    [(size,)] = harness.sql("SELECT COUNT(*) FROM ledger_entries") or [(0,)]
    page = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=0, page_size=size))
    [entry] = [json.loads(r[0]) for r in harness.sql(
        "SELECT entry FROM ledger_entries WHERE seq >= :s", s=size) or []]
    assert (entry["kind"], entry["actor"], entry["read"]) == ("metadata.read", "auditor:" + auditor.id,
                                                              "ledger-entries")
    assert (entry["count"], entry["start"], entry["through"]) == (len(page.entries), 0, page.entries[-1].seq)
    # The read names no one (it spans every patient on the page) but each one's history lists it.
    assert "patient" not in entry and listed_for(harness, patient.id, entry["seq"])
    other = harness.patient()
    assert not listed_for(harness, other.id, entry["seq"])
    # A page of nothing but read entries is not ledgered again: paging to the end terminates.
    assert appended_by(harness, lambda: auditor.client.audit.ListEntries(
        audit_pb2.ListEntriesRequest(start=entry["seq"], page_size=1))) == []
    assert hospital  # (the hospital's deposits are among the entries read)


def test_an_institution_listing_its_own_access_requests_names_no_one_and_is_listed_for_each(harness, world):
    _hospital, doctor, patient, _daughter, _consent = world
    second = harness.patient()
    for p in (patient, second):
        doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(
            patient_id=p.id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]),
            reason="follow-up", notice=doctor.notice))
    entry = only_read(harness, lambda: doctor.client.consent.ListAccessRequests(
        consent_pb2.ListAccessRequestsRequest(page_size=100)))
    assert (entry["read"], entry["count"]) == ("access-requests", 2) and "patient" not in entry
    assert listed_for(harness, patient.id, entry["seq"]) and listed_for(harness, second.id, entry["seq"])
    # One request read by the patient names them.
    [mine] = patient.client.consent.ListAccessRequests(consent_pb2.ListAccessRequestsRequest(
        patient_id=patient.id)).requests
    entry = only_read(harness, lambda: patient.client.consent.GetAccessRequest(
        consent_pb2.GetAccessRequestRequest(request_id=mine.request_id)))
    assert (entry["read"], entry["count"], entry["patient"]) == (
        "access-request", 1, harness.pseudonym(patient.id))


def test_a_refused_read_leaves_its_refusal_and_no_read_entry(harness, world):
    *_, patient, _daughter, _consent = world
    stranger = harness.patient()

    def refused() -> None:
        with pytest.raises(grpc.RpcError) as err:
            stranger.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=patient.id))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    assert [e["kind"] for e in appended_by(harness, refused)] == ["call.refused"]
