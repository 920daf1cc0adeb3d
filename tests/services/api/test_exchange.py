"""The sharing path end to end over a real gRPC channel: deposit, consent, fetch, decide,
seal, ledger, verify and decrypt — and every way it must refuse."""

from __future__ import annotations

import hashlib
import json
import secrets

import grpc
import pytest
from harness import NONCE, field_violations, grant

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import derived
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


@pytest.fixture(scope="module")
def story(harness):
    """A hospital, a patient with the four discharge records, and a family doctor."""
    hospital = harness.org()
    patient = harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    records = {}
    for title, body in discharge_records(patient.id).items():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
        records[reply.record.record_id] = (title, body)
    return hospital, patient, doctor, records


def fetch(harness, org, patient, purpose="TREAT", **kw):
    return list(org.client.fetch(patient.id, purpose, recipient_key=org.encryption,
                                 service_key=harness.service_key, **kw))


def withheld_ids(outcomes) -> set[str]:
    """The ids of a fetch's outcomes, which must all be withheld."""
    assert not any(r.shared for r in outcomes)
    return {r.record_id for r in outcomes}


def test_consented_records_are_shared_and_sensitive_ones_withheld_unnamed(harness, story):
    hospital, patient, doctor, records = story
    consent = grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    try:
        got = fetch(harness, doctor, patient)
    finally:
        patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    shared = {records[r.record_id][0]: r for r in got if r.shared}
    assert set(shared) == {"discharge summary", "medication list", "lab results"}
    for item in shared.values():
        assert item.body == records[item.record_id][1]  # the holder's bytes, exactly
        assert item.header["recipient"] == doctor.id and item.header["purpose"] == "TREAT"
    assert len(got) == 3  # the psychiatric note is withheld without an outcome that names it
    events = patient.client.consent.GetAccessHistory(
        consent_pb2.GetAccessHistoryRequest(patient_id=patient.id, page_size=1000)).events
    [note] = [e for e in events if e.institution_id == doctor.id and e.category == "mental-health"]
    assert not note.allowed
    assert "category mental-health is sensitive and needs a consent that names it" in note.reasons


def test_every_decision_is_ledgered_with_the_package_hashes(harness, story):
    hospital, patient, doctor, records = story
    consent = grant(patient, doctor, ["lab"])
    doctor_items = list(doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(nonce=NONCE,
        patient_id=patient.id, purpose="TREAT")))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    entries = {e["seq"]: e for e in harness.entries()}
    assert len(doctor_items) == len(records) - 1  # all but the psychiatric note, which is not named
    seqs = sorted(item.ledger_seq for item in doctor_items)
    # The note's decision is ledgered too, after the outcomes the doctor received.
    hidden = entries[seqs[-1] + 1]
    assert hidden["kind"] == "access.decision" and hidden["category"] == "mental-health"
    assert hidden["actor"] == "org:" + doctor.id and hidden["allowed"] is False
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    for item in doctor_items:
        entry = entries[item.ledger_seq]
        assert entry["kind"] == "access.decision" and entry["actor"] == "org:" + doctor.id
        assert entry["allowed"] is item.HasField("shared")
        assert entry["policy_revision"] == harness.app.policy.revision
        if item.HasField("shared"):
            package = item.shared.package
            assert entry["header_hash"] == hashlib.sha256(package.header).hexdigest()
            assert entry["ciphertext_hash"] == hashlib.sha256(package.ciphertext).hexdigest()
            assert entry["consents"] == [consent.consent_id]
        else:
            assert entry["reasons"] == list(item.withheld.reasons)


def not_sensitive(records) -> set[str]:
    return {record_id for record_id, (title, _body) in records.items() if title != "psychiatric note"}


def test_wrong_purpose_research_and_revocation_are_refused(harness, story):
    hospital, patient, doctor, records = story
    consent = grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    wrong_purpose = fetch(harness, doctor, patient, "HPAYMT")
    assert withheld_ids(wrong_purpose) == not_sensitive(records)
    assert all(r.reasons == (f"role physician may not read {r.category} for HPAYMT",) for r in wrong_purpose)
    registry = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher")
    with pytest.raises(grpc.RpcError) as err:  # no research consent, so no subject id: refused before any read
        list(registry.client.fetch("", "HRESCH", subject_id=secrets.token_hex(16), recipient_key=registry.encryption,
                                   service_key=harness.service_key))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert any(r.shared for r in fetch(harness, doctor, patient))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id,
                                                                          reason="moved"))
    with pytest.raises(grpc.RpcError) as after:
        fetch(harness, doctor, patient)
    assert after.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert after.value.details() == err.value.details()


def test_records_are_encrypted_at_rest(harness, story):
    hospital, patient, doctor, records = story
    rows = harness.sql("SELECT ciphertext, wrapped_key FROM records WHERE patient_id = :p", p=patient.id)
    assert len(rows) == len(records)
    for ciphertext, wrapped in rows:
        assert b"resourceType" not in bytes(ciphertext) and patient.id.encode() not in bytes(ciphertext)
        assert len(bytes(wrapped)) > 32


def test_the_ledger_never_holds_the_raw_patient_id(harness, story):
    hospital, patient, doctor, records = story
    raw = json.dumps(harness.entries())
    assert patient.id not in raw
    assert "pneumonia" not in raw and "amoxicillin" not in raw


def test_patient_reads_who_accessed_their_data(harness, story):
    hospital, patient, doctor, records = story
    consent = grant(patient, doctor, ["lab"])
    fetch(harness, doctor, patient, categories=("lab", "mental-health"))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    events = patient.client.consent.GetAccessHistory(
        consent_pb2.GetAccessHistoryRequest(patient_id=patient.id, page_size=1000)).events
    latest = [e for e in events if e.institution_id == doctor.id][-2:]
    assert {(e.category, e.allowed) for e in latest} == {("lab", True), ("mental-health", False)}
    lab = next(e for e in latest if e.allowed)
    assert lab.purpose == "TREAT" and lab.practitioner_id == "dr-chen" and list(lab.consent_ids) == [consent.consent_id]
    other = harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        other.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_patient_pages_through_exactly_their_own_ledger_entries(harness, story):
    hospital, patient, doctor, records = story
    harness.entries()  # (first: reading enrolls an auditor, which is ledgered)
    pages, start = [], 0
    while True:
        page = patient.client.audit.ListEntries(
            audit_pb2.ListEntriesRequest(patient_id=patient.id, start=start, page_size=2))
        if not page.entries:
            break
        assert len(page.entries) <= 2 and page.next_start > page.entries[-1].seq
        pages.append(page)
        start = page.next_start
    mine = [(e.seq, json.loads(e.entry)) for page in pages for e in page.entries]
    everything = [json.loads(e) for _seq, e in harness.entries_by_seq(own_reads=True)]
    # Each page the patient read is ledgered, but one holding only reads (the last one here).
    assert len(mine) >= len(records) and pages[-1].next_start == len(everything) - 1
    assert all(entry == everything[seq] for seq, entry in mine)
    ledgered_pages = [p for p in pages if any(json.loads(e.entry)["kind"] != "metadata.read" for e in p.entries)]
    assert len([e for e in everything if e.get("read") == "ledger-entries" and e["actor"].startswith("patient:")
                ]) == len(ledgered_pages) < len(pages)
    # Exactly the entries the service's index lists for the patient: every one naming their ledger
    # pseudonym, their access entries (which name them by the fetching institution's pseudonym)
    # and their deliveries (which name them as the access entries do), and refusals about them
    # (which name no one).
    ledger = harness.pseudonym(patient.id)
    indexed = [row[0] for row in harness.sql(
        "SELECT seq FROM ledger_subjects WHERE pseudonym = :p ORDER BY seq", p=ledger) or ()]
    # (Reading `everything` came after the patient's paging, and is listed for the patient too.)
    assert [seq for seq, _entry in mine] == [seq for seq in indexed if seq < pages[-1].next_start]
    assert {e["seq"] for e in everything if e.get("patient") == ledger} < set(indexed)
    for _seq, entry in mine:
        if entry["kind"] in ("access.decision", "access.delivered"):
            recipient = entry["actor"].removeprefix("org:")
            assert entry["patient"] == derived.institution_pseudonym(harness.app.trail.pseudonym_key, recipient,
                                                                     patient.id)
        elif entry["kind"] == "call.refused" or (entry.get("read") == "ledger-entries"
                                                 and entry["actor"].startswith("auditor:")):
            assert "patient" not in entry  # (an auditor's read spans many patients: it names none)
        else:
            assert entry["patient"] == ledger


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "fhir_json"),
    (json.dumps({"resourceType": "Spaceship"}).encode(), "fhir_json.resourceType"),
    (json.dumps({"resourceType": "Observation", "status": "final", "code": {"text": "CRP"},
                 "subject": {"reference": "Patient/someone-else"},
                 "category": [{"coding": [{"code": "laboratory"}]}]}).encode(), "fhir_json.subject"),
])
def test_a_bad_deposit_is_refused_with_the_field_and_writes_only_its_ledger_entry(harness, story, body, field):
    hospital, patient, doctor, records = story
    before_records = harness.sql("SELECT count(*) FROM records")[0][0]
    before_ledger = len(harness.entries())
    with pytest.raises(grpc.RpcError) as err:
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(err.value)
    assert harness.sql("SELECT count(*) FROM records")[0][0] == before_records
    entries = harness.entries()
    # Exactly one refusal among the new entries.
    refusal = [e for e in entries[before_ledger:] if e["kind"] == "call.refused"]
    assert len(refusal) == 1 and refusal[0]["status"] == "INVALID_ARGUMENT"
    assert refusal[0]["method"].endswith("/PutRecord")


def test_fetch_validates_every_field(harness, story):
    hospital, patient, doctor, records = story
    with pytest.raises(grpc.RpcError) as err:
        list(doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(
            patient_id="", purpose="SHOPPING", categories=["gossip"], record_ids=["nope"],
            emergency=exchange_pb2.Emergency(declared=True), nonce=b"short")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert {"patient_id", "purpose", "categories[0]", "record_ids[0]", "emergency.justification", "nonce"} <= set(
        violations)
    assert violations["nonce"] == "must be 16 to 64 random bytes, fresh for each fetch"


def test_an_idempotent_retry_deposits_once(harness, story):
    hospital, patient, doctor, records = story
    body = discharge_records(patient.id)["lab results"]
    request = exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body, idempotency_key="deposit-1")
    first = hospital.client.exchange.PutRecord(request)
    again = hospital.client.exchange.PutRecord(request)
    assert again == first
    assert harness.sql("SELECT count(*) FROM records WHERE patient_id = :p", p=patient.id)[0][0] == len(records) + 1
    changed = exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body, labels=["R"],
                                            idempotency_key="deposit-1")
    with pytest.raises(grpc.RpcError) as err:
        hospital.client.exchange.PutRecord(changed)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=first.record.record_id,
                                                                         reason="test copy"))


def test_an_erased_record_is_no_longer_the_patients_and_its_key_is_gone(harness, story):
    hospital, patient, doctor, records = story
    body = discharge_records(patient.id)["medication list"]
    put = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=put.record.record_id,
                                                                         reason="entered in error"))
    [(ciphertext, wrapped)] = harness.sql("SELECT ciphertext, wrapped_key FROM records WHERE record_id = :r",
                                          r=put.record.record_id)
    assert ciphertext is None and wrapped is None
    consent = grant(patient, doctor, ["medication"])
    # Its row no longer names the patient (docs/erasure.md): a fetch asking for it finds nothing.
    items = fetch(harness, doctor, patient, record_ids=(put.record.record_id,))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    assert items == []


def test_only_data_holders_deposit(harness, story):
    hospital, patient, doctor, records = story
    insurer = harness.org(kind=registry_pb2.INSTITUTION_KIND_INSURER, role="claims-officer")
    with pytest.raises(grpc.RpcError) as err:
        insurer.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
