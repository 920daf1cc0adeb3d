"""A patient's own ledger entries as FHIR R4 AuditEvents (IHE BALP) over gRPC: valid by the FHIR
models, one per entry in ledger order, pseudonymous, and each provable against a signed
checkpoint by the seq and leaf hash it carries (docs/ledger.md, "FHIR AuditEvent export")."""

from __future__ import annotations

import base64
import hashlib
import json

import grpc
import pytest
from fhir.resources.R4B.bundle import Bundle
from harness import grant

from consentry.ledger import verify_inclusion
from consentry.services.cli.demo import discharge_records
from consentry.services.domain import paging
from consentry.v1 import audit_pb2, exchange_pb2, registry_pb2

DETAIL = "urn:consentry:ledger-entry"


@pytest.fixture(scope="module")
def story(harness):
    """The discharge records, a consent for lab only and one fetch: shared and withheld decisions."""
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-lee")
    for body in discharge_records(patient.id).values():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["lab", "discharge-summary"])
    list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key))
    return hospital, patient, doctor


def export(patient, page_size: int = 0) -> list[dict]:
    """Every page of the patient's AuditEvents, each page a Bundle the FHIR models accept, but
    for the reads of the patient's own history (each export adds one)."""
    events, start = [], 0
    while True:
        reply = patient.client.audit.ExportAuditEvents(audit_pb2.ExportAuditEventsRequest(
            patient_id=patient.id, start=start, page_size=page_size))
        bundle = json.loads(reply.bundle_json)
        Bundle.model_validate(bundle)
        assert bundle["type"] == "collection"
        if not bundle.get("entry"):
            return events
        events += [e["resource"] for e in bundle["entry"] if not is_read(e["resource"])]
        start = reply.next_start


def is_read(event: dict) -> bool:
    return event["subtype"][0]["code"] == "metadata.read"


def details(event: dict) -> dict[str, str]:
    [ledger] = [e for e in event["entity"] if e["what"].get("identifier", {}).get("system") == DETAIL]
    return {d["type"].split("#")[1]: d.get("valueString") or d.get("valueBase64Binary") for d in ledger["detail"]}


def test_a_patient_exports_exactly_their_own_entries_as_valid_audit_events(harness, story):
    hospital, patient, doctor = story
    events = export(patient)
    assert events == export(patient, page_size=2)  # paging changes nothing
    listed = patient.client.audit.ListEntries(audit_pb2.ListEntriesRequest(patient_id=patient.id, page_size=1000))
    own = [e for e in listed.entries if b'"kind":"metadata.read"' not in e.entry]
    assert [int(details(e)["seq"]) for e in events] == [e.seq for e in own]
    for event, entry in zip(events, own, strict=True):
        assert base64.b64decode(details(event)["entry"]) == entry.entry
        assert event["recorded"] == json.loads(entry.entry)["time"]
    assert patient.id not in json.dumps(events)  # pseudonyms only, never the patient's id


def test_a_decision_follows_balp_and_names_who_why_what_and_the_outcome(harness, story):
    hospital, patient, doctor = story
    decisions = [e for e in export(patient) if e["subtype"][0]["code"] == "access.decision"]
    by_outcome = {e["outcome"]: e for e in decisions}
    assert set(by_outcome) == {"0", "4"}  # shared, and withheld
    for event in decisions:
        entry = json.loads(base64.b64decode(details(event)["entry"]))
        assert event["type"]["code"] == "110106" and event["action"] == "R"
        assert event["purposeOfEvent"][0]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
        [requestor] = [a for a in event["agent"] if a["requestor"]]
        assert requestor["who"]["identifier"]["value"] == "org:" + doctor.id and requestor["altId"] == "dr-lee"
        assert requestor["policy"] == [f"urn:consentry:policy-revision:{harness.app.policy.revision}"]
        assert event["source"]["site"] == harness.app.settings.ledger_origin
        [person] = [e for e in event["entity"] if e.get("role", {}).get("code") == "1"]
        assert person["what"]["identifier"]["value"] == entry["patient"]
        assert details(event)["decision-id"] == entry["decision_id"]
    consents = [e["what"]["reference"] for e in by_outcome["0"]["entity"] if "reference" in e["what"]]
    assert len(consents) == 1 and consents[0].endswith("/_history/1")
    for event in decisions:
        entry = json.loads(base64.b64decode(details(event)["entry"]))
        assert event["outcomeDesc"] == "; ".join(entry["reasons"])


def test_each_event_is_proved_against_a_signed_checkpoint(harness, story):
    hospital, patient, doctor = story
    events = export(patient)
    checkpoint = doctor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    for event in events:
        seq, leaf = int(details(event)["seq"]), bytes.fromhex(details(event)["leaf-hash"])
        # A version 2 leaf (docs/ledger.md): SHA-256(0x00 || 0x02 || SHA-256(entry bytes)).
        committed = hashlib.sha256(base64.b64decode(details(event)["entry"])).digest()
        assert leaf == hashlib.sha256(b"\x00\x02" + committed).digest()
        proof = doctor.client.audit.GetInclusionProof(audit_pb2.GetInclusionProofRequest(
            seq=seq, tree_size=checkpoint.tree_size))
        verify_inclusion(leaf, seq, checkpoint.tree_size, list(proof.hashes), checkpoint.root_hash)


def test_only_the_patient_exports_their_events(harness, story):
    hospital, patient, doctor = story
    stranger = harness.patient()
    for caller in (doctor, stranger):
        with pytest.raises(grpc.RpcError) as err:
            caller.client.audit.ExportAuditEvents(audit_pb2.ExportAuditEventsRequest(patient_id=patient.id))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_page_holds_at_most_the_page_bytes_of_events(harness, story, monkeypatch):
    """Events are about twice their entries' size: a page is cut by what it sends, and the next
    page goes on from the first event it left out."""
    hospital, patient, doctor = story
    everything = export(patient)
    monkeypatch.setattr(paging, "MAX_PAGE_BYTES", 6000)
    pages, start = [], 0
    while True:
        reply = patient.client.audit.ExportAuditEvents(audit_pb2.ExportAuditEventsRequest(
            patient_id=patient.id, start=start, page_size=1000))
        events = [e["resource"] for e in json.loads(reply.bundle_json).get("entry", [])]
        if not events:
            break
        assert len(events) == 1 or sum(len(json.dumps(e, separators=(",", ":"))) + 16 for e in events) <= 6000
        pages.append(events)
        start = reply.next_start
    assert len(pages) > 2 and [e for page in pages for e in page if not is_read(e)] == everything
