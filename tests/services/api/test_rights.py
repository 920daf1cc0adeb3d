"""RightsService over gRPC: a patient's sealed copy of their records, corrections routed to the
holder and amendments linked to the record they amend, the rights-request tracker with deadlines
from policy data, and the guardian or next of kin the operator establishes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from backends import BACKENDS, database
from harness import Harness, Org, Person, field_violations, grant
from nacl.signing import SigningKey

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import export_seal
from consentry.services.crypto.errors import DecryptionFailed
from consentry.v1 import consent_pb2, exchange_pb2, rights_pb2

GUARDIAN, NEXT_OF_KIN = rights_pb2.REPRESENTATIVE_BASIS_GUARDIAN, rights_pb2.REPRESENTATIVE_BASIS_NEXT_OF_KIN
EVIDENCE = hashlib.sha256(b"a scanned court order").hexdigest()


def deposit(hospital: Org, patient: Person) -> dict[str, bytes]:
    """The discharge records, by record id, as deposited."""
    out = {}
    for title, body in discharge_records(patient.id).items():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
        out[reply.record.record_id] = body
    return out


def refused(call, code: grpc.StatusCode) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == code, err.value.details()
    return err.value


def entries_of(harness: Harness, kind: str) -> list[dict]:
    rows = harness.sql("SELECT entry FROM ledger_entries ORDER BY seq") or []
    return [e for e in (json.loads(r[0]) for r in rows) if e["kind"] == kind]


def weekdays_between(start: datetime, end: datetime) -> int:
    days, day = 0, start
    while day + timedelta(days=1) <= end:
        day += timedelta(days=1)
        days += day.weekday() < 5
    return days


# -- export ----------------------------------------------------------------------------------------

def test_a_patient_exports_every_record_as_a_bundle_sealed_to_their_own_key(harness):
    hospital, patient = harness.org(), harness.patient()
    deposited = deposit(hospital, patient)
    [page] = patient.client.export_records(patient.id, harness.service_key)
    assert (page.bundle["resourceType"], page.bundle["type"]) == ("Bundle", "collection")
    got = {e["fullUrl"].removeprefix("urn:uuid:"): e["resource"] for e in page.bundle["entry"]}
    assert got == {rid: json.loads(body) for rid, body in deposited.items()}  # the sensitive note too
    assert page.header["patient_key_id"] == patient.client.caller.key_id
    [entry] = [e for e in entries_of(harness, "rights.exported") if e["seq"] == page.ledger_seq]
    assert (entry["count"], entry["patient"]) == (len(deposited), harness.pseudonym(patient.id))
    assert entry["actor"] == "patient:" + harness.pseudonym(patient.id)
    # The tracker holds it as an access request answered at once.
    [tracked] = patient.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests
    assert (tracked.request_id, tracked.type, tracked.status) == (
        page.request_id, rights_pb2.RIGHTS_REQUEST_TYPE_ACCESS, rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED)


def test_an_export_opens_with_the_patients_key_only_and_under_the_services_signature(harness):
    hospital, patient = harness.org(), harness.patient()
    deposit(hospital, patient)
    reply = patient.client.rights.ExportRecords(rights_pb2.ExportRecordsRequest(patient_id=patient.id))
    sealed = export_seal.SealedExport(reply.export.header, reply.export.ciphertext, reply.export.sealed_key,
                                      reply.export.signature)
    with pytest.raises(DecryptionFailed, match="does not open"):
        export_seal.open_export(sealed, SigningKey.generate(), harness.service_key)
    with pytest.raises(DecryptionFailed, match="signature"):
        export_seal.open_export(sealed, patient.identity, SigningKey.generate().verify_key)
    forged = export_seal.SealedExport(sealed.header.replace(b'"records":4', b'"records":3'), sealed.ciphertext,
                                      sealed.sealed_key, sealed.signature)
    with pytest.raises(DecryptionFailed):
        export_seal.open_export(forged, patient.identity, harness.service_key)
    header, bundle = export_seal.open_export(sealed, patient.identity, harness.service_key)
    assert header["records"] == reply.record_count == len(bundle["entry"]) == 4


@pytest.fixture(scope="module", params=BACKENDS)
def small_bodies(request, tmp_path_factory):
    """A server whose body limit holds two of the discharge records, not four."""
    directory = tmp_path_factory.mktemp("small-bodies")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, max_body_bytes=720)
        try:
            yield h
        finally:
            h.stop()


def test_an_export_pages_within_the_body_limit(small_bodies):
    hospital, patient = small_bodies.org(), small_bodies.patient()
    deposited = deposit(hospital, patient)
    pages = patient.client.export_records(patient.id, small_bodies.service_key)
    sizes = [len(json.dumps(e["resource"], separators=(",", ":"))) for p in pages for e in p.bundle["entry"]]
    assert len(pages) > 1 and all(0 < p.header["records"] < len(deposited) for p in pages)
    assert sum(p.header["records"] for p in pages) == len(deposited) and sum(sizes) > 720
    got = {e["fullUrl"].removeprefix("urn:uuid:"): e["resource"] for p in pages for e in p.bundle["entry"]}
    assert got == {rid: json.loads(body) for rid, body in deposited.items()}
    # Each page is ledgered and tracked on its own.
    assert len({p.request_id for p in pages}) == len({p.ledger_seq for p in pages}) == len(pages)


def test_a_patient_without_records_exports_a_bundle_without_entries(harness):
    patient = harness.patient()
    [page] = patient.client.export_records(patient.id, harness.service_key)
    assert page.header["records"] == 0 and "entry" not in page.bundle and page.bundle["type"] == "collection"


def test_no_one_but_the_patient_or_their_representative_exports(harness):
    hospital, patient, stranger, daughter = harness.org(), harness.patient(), harness.patient(), harness.patient()
    deposit(hospital, patient)
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS, consent_pb2.PROXY_SCOPE_READ_HISTORY]))
    export = rights_pb2.ExportRecordsRequest(patient_id=patient.id)
    exported = len(entries_of(harness, "rights.exported"))
    other = refused(lambda: stranger.client.rights.ExportRecords(export), grpc.StatusCode.PERMISSION_DENIED)
    nobody = refused(lambda: stranger.client.rights.ExportRecords(rights_pb2.ExportRecordsRequest(
        patient_id="P-nobody-here")), grpc.StatusCode.PERMISSION_DENIED)
    assert other.details() == nobody.details() == "you may not act for this patient"
    proxy = refused(lambda: daughter.client.rights.ExportRecords(export), grpc.StatusCode.PERMISSION_DENIED)
    assert "exercise-rights" in str(proxy.trailing_metadata())
    refused(lambda: hospital.client.rights.ExportRecords(export), grpc.StatusCode.PERMISSION_DENIED)
    assert len(entries_of(harness, "rights.exported")) == exported


def test_an_export_request_with_bad_fields_names_them(harness):
    patient = harness.patient()
    err = refused(lambda: patient.client.rights.ExportRecords(rights_pb2.ExportRecordsRequest(
        patient_id="", page_token="not-a-token")), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"patient_id", "page_token"}


# -- the tracker -----------------------------------------------------------------------------------

def file(patient: Person, kind: int, holder: str = "") -> rights_pb2.RightsRequest:
    return patient.client.rights.FileRightsRequest(rights_pb2.FileRightsRequestRequest(
        patient_id=patient.id, type=kind, holder=holder)).request


def test_a_request_gets_the_earliest_deadline_the_applicable_laws_set(harness):
    hospital, patient = harness.org(), harness.patient()
    request = file(patient, rights_pb2.RIGHTS_REQUEST_TYPE_ERASURE, hospital.id)
    received, due = request.receive_time.ToDatetime(UTC), request.deadline_time.ToDatetime(UTC)
    # PIPL's 15 working days (GB/T 35273-2020 8.7) come before GDPR's month; HIPAA sets none for erasure.
    assert "PIPL 50" in request.deadline_basis and weekdays_between(received, due) == 15
    assert due < received + timedelta(days=28) and due.weekday() < 5
    assert (request.status, request.holder) == (rights_pb2.RIGHTS_REQUEST_STATUS_RECEIVED, hospital.id)
    [entry] = [e for e in entries_of(harness, "rights.requested") if e["request"] == request.request_id]
    assert (entry["type"], entry["holder"], entry["patient"]) == (
        "erasure", "org:" + hospital.id, harness.pseudonym(patient.id))


def test_the_holder_moves_a_request_on_and_a_refusal_carries_its_reason(harness):
    hospital, patient = harness.org(), harness.patient()
    request = file(patient, rights_pb2.RIGHTS_REQUEST_TYPE_RESTRICTION, hospital.id)
    update = hospital.client.rights.UpdateRightsRequest
    moved = update(rights_pb2.UpdateRightsRequestRequest(
        request_id=request.request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_IN_PROGRESS)).request
    assert moved.status == rights_pb2.RIGHTS_REQUEST_STATUS_IN_PROGRESS
    # PIPL set the deadline, and allows no extension.
    err = refused(lambda: update(rights_pb2.UpdateRightsRequestRequest(
        request_id=request.request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_EXTENDED)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert "allows no extension" in err.details()
    err = refused(lambda: update(rights_pb2.UpdateRightsRequestRequest(
        request_id=request.request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_REFUSED)),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"refusal_reason"}
    secret = "the retention period for this admission runs until 2031"
    done = update(rights_pb2.UpdateRightsRequestRequest(
        request_id=request.request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_REFUSED,
        refusal_reason="legal-retention", explanation=secret)).request
    [seen] = patient.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests
    assert seen == done and (seen.refusal_reason, seen.explanation) == ("legal-retention", secret)
    assert seen.status == rights_pb2.RIGHTS_REQUEST_STATUS_REFUSED
    assert secret not in json.dumps(entries_of(harness, "rights.updated"))
    assert not harness.sql("SELECT 1 FROM rights_requests WHERE explanation LIKE :s", s=f"%{secret[:20]}%")
    err = refused(lambda: update(rights_pb2.UpdateRightsRequestRequest(
        request_id=request.request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert err.details() == "this request is already refused"


def test_only_the_routed_holder_or_the_operator_answers_and_only_theirs_are_listed(harness):
    hospital, other, patient = harness.org(), harness.org(), harness.patient()
    request = file(patient, rights_pb2.RIGHTS_REQUEST_TYPE_OBJECTION, hospital.id)
    move = rights_pb2.UpdateRightsRequestRequest(request_id=request.request_id,
                                                 status=rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED)
    err = refused(lambda: other.client.rights.UpdateRightsRequest(move), grpc.StatusCode.NOT_FOUND)
    assert err.details() == "no rights request with this id"
    refused(lambda: patient.client.rights.UpdateRightsRequest(move), grpc.StatusCode.PERMISSION_DENIED)
    listed = rights_pb2.ListRightsRequestsRequest()
    assert [r.request_id for r in hospital.client.rights.ListRightsRequests(listed).requests] == [request.request_id]
    assert other.client.rights.ListRightsRequests(listed).requests == []
    done = harness.operator.rights.UpdateRightsRequest(move).request
    assert done.status == rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED


def test_filing_a_request_with_bad_fields_names_them(harness):
    patient = harness.patient()
    err = refused(lambda: patient.client.rights.FileRightsRequest(rights_pb2.FileRightsRequestRequest(
        patient_id="bad id", type=rights_pb2.RIGHTS_REQUEST_TYPE_CORRECTION, holder="NOT_AN_ID")),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"patient_id", "type", "holder"}
    err = refused(lambda: file(patient, rights_pb2.RIGHTS_REQUEST_TYPE_ERASURE, "no-such-org"),
                  grpc.StatusCode.NOT_FOUND)
    assert err.details() == "no institution with this id is registered"


# -- corrections -----------------------------------------------------------------------------------

@pytest.fixture
def shared(harness):
    """A record of the patient's the family doctor has fetched."""
    hospital, doctor, patient = harness.org(), harness.org(practitioner="dr-chen"), harness.patient()
    records = deposit(hospital, patient)
    grant(patient, doctor, ["lab"])
    fetched = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                       service_key=harness.service_key))
    [lab] = [r.record_id for r in fetched if r.shared]
    return hospital, doctor, patient, lab, records[lab]


def correct(patient: Person, record_id: str, text: str = "the potassium value is another patient's") -> str:
    return patient.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
        patient_id=patient.id, record_id=record_id, reason="inaccurate", text=text)).request.request_id


def test_an_accepted_correction_is_a_new_version_linked_to_the_old_and_recipients_are_told(harness, shared):
    hospital, doctor, patient, lab, body = shared
    text = "the potassium value is another patient's"
    request_id = correct(patient, lab, text)
    [routed] = hospital.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests
    assert (routed.request_id, routed.record_id, routed.correction_reason, routed.correction_text) == (
        request_id, lab, "inaccurate", text)
    assert routed.type == rights_pb2.RIGHTS_REQUEST_TYPE_CORRECTION
    amended = json.loads(body)
    amended["status"] = "amended"
    answer = hospital.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request_id, accept=True, fhir_json=json.dumps(amended).encode()))
    assert answer.notified == 1 and answer.request.status == rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED
    new_id = answer.request.amendment_record_id
    listed = {r.record_id: r for r in patient.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(
        patient_id=patient.id)).records}
    assert listed[new_id].amends_record_id == lab and not listed[lab].erased  # the old version stays
    [notice] = doctor.client.rights.ListRecipientNotices(rights_pb2.ListRecipientNoticesRequest()).notices
    assert (notice.kind, notice.record_id, notice.amendment_record_id) == ("record.amended", lab, new_id)
    assert hospital.client.rights.ListRecipientNotices(rights_pb2.ListRecipientNoticesRequest()).notices == []
    [entry] = [e for e in entries_of(harness, "record.amended") if e["request"] == request_id]
    assert (entry["record"], entry["amendment"], entry["notified"]) == (lab, new_id, 1)
    assert text not in json.dumps([*entries_of(harness, "rights.requested"), entry])
    assert not harness.sql("SELECT 1 FROM rights_requests WHERE correction_text LIKE :s", s="%potassium%")


def test_a_denied_correction_records_the_reason_and_cannot_be_answered_again(harness, shared):
    hospital, doctor, patient, lab, _body = shared
    request_id = correct(patient, lab)
    err = refused(lambda: hospital.client.rights.UpdateRightsRequest(rights_pb2.UpdateRightsRequestRequest(
        request_id=request_id, status=rights_pb2.RIGHTS_REQUEST_STATUS_COMPLETED)), grpc.StatusCode.FAILED_PRECONDITION)
    assert err.details() == "a correction is accepted or denied with AnswerCorrection"
    deny = rights_pb2.AnswerCorrectionRequest(request_id=request_id, refusal_reason="record-accurate",
                                              explanation="checked against the analyser's log")
    answer = hospital.client.rights.AnswerCorrection(deny)
    assert (answer.request.status, answer.request.refusal_reason, answer.notified) == (
        rights_pb2.RIGHTS_REQUEST_STATUS_REFUSED, "record-accurate", 0)
    err = refused(lambda: hospital.client.rights.AnswerCorrection(deny), grpc.StatusCode.FAILED_PRECONDITION)
    assert err.details() == "this correction is already refused"
    assert doctor.client.rights.ListRecipientNotices(rights_pb2.ListRecipientNoticesRequest()).notices == []


def test_corrections_refuse_what_is_not_the_patients_or_not_the_holders(harness, shared):
    hospital, doctor, patient, lab, _body = shared
    stranger = harness.patient()
    err = refused(lambda: correct(stranger, lab), grpc.StatusCode.NOT_FOUND)  # not the stranger's record
    assert err.details() == "no record with this id"
    refused(lambda: stranger.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
        patient_id=patient.id, record_id=lab, reason="inaccurate")), grpc.StatusCode.PERMISSION_DENIED)
    request_id = correct(patient, lab)
    err = refused(lambda: doctor.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request_id, refusal_reason="record-accurate")), grpc.StatusCode.NOT_FOUND)
    assert err.details() == "no rights request with this id"
    err = refused(lambda: hospital.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request_id, accept=True)), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"fhir_json"}
    foreign = json.dumps({"resourceType": "Observation", "status": "final", "code": {"text": "K"},
                          "subject": {"reference": "Patient/" + stranger.id}}).encode()
    err = refused(lambda: hospital.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request_id, accept=True, fhir_json=foreign)), grpc.StatusCode.INVALID_ARGUMENT)
    assert any(f.startswith("fhir_json") for f in field_violations(err))


def test_a_correction_request_with_bad_fields_names_them(harness, shared):
    _hospital, _doctor, patient, lab, _body = shared

    def file_correction(**fields):
        return refused(lambda: patient.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
            patient_id=patient.id, **fields)), grpc.StatusCode.INVALID_ARGUMENT)

    assert field_violations(file_correction(record_id="not-a-uuid", reason="because")) == {
        "record_id": "must be a lower-case UUID",
        "reason": "must be one of inaccurate, incomplete, not-mine, other, outdated"}
    assert field_violations(file_correction(record_id=lab, reason="other")) == {"text": "is required"}
    assert field_violations(file_correction(record_id=lab, reason="other", text="x" * 501)) == {
        "text": "must be at most 500 characters"}


# -- representatives -------------------------------------------------------------------------------

def establish(harness: Harness, patient: Person, representative: Person, basis: int, evidence_type: str,
              **kw) -> rights_pb2.EstablishRepresentativeResponse:
    return harness.operator.rights.EstablishRepresentative(rights_pb2.EstablishRepresentativeRequest(
        patient_id=patient.id, representative_id=representative.id, basis=basis, evidence_type=evidence_type,
        evidence_hash=EVIDENCE, **kw))


def test_a_guardian_established_on_evidence_acts_for_the_minor_until_ended(harness):
    hospital, minor, mother = harness.org(), harness.patient(), harness.patient()
    records = deposit(hospital, minor)
    before = refused(lambda: mother.client.rights.ExportRecords(rights_pb2.ExportRecordsRequest(
        patient_id=minor.id)), grpc.StatusCode.PERMISSION_DENIED)
    assert before.details() == "you may not act for this patient"
    reply = establish(harness, minor, mother, GUARDIAN, "birth-certificate")
    assert reply.representative.active and reply.representative.basis == GUARDIAN
    [entry] = [e for e in entries_of(harness, "representative.established") if e["seq"] == reply.ledger_seq]
    assert (entry["actor"], entry["patient"], entry["representative"]) == (
        "operator", harness.pseudonym(minor.id), harness.actor("patient:" + mother.id))
    assert (entry["basis"], entry["evidence_type"], entry["evidence_hash"]) == (
        "guardian", "birth-certificate", EVIDENCE)
    # The export is sealed to the guardian's own key, and the tracker names who filed it.
    [page] = mother.client.export_records(minor.id, harness.service_key)
    assert len(page.bundle["entry"]) == len(records) and page.header["patient_key_id"] == mother.client.caller.key_id
    [tracked] = minor.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=minor.id)).requests
    assert tracked.filed_by == "patient:" + mother.id
    listed = minor.client.rights.ListRepresentatives(rights_pb2.ListRepresentativesRequest(patient_id=minor.id))
    assert [r.representative_id for r in listed.representatives] == [mother.id]
    harness.operator.rights.EndRepresentative(rights_pb2.EndRepresentativeRequest(
        patient_id=minor.id, representative_id=mother.id))
    refused(lambda: mother.client.export_records(minor.id, harness.service_key), grpc.StatusCode.PERMISSION_DENIED)


def test_next_of_kin_of_a_deceased_patient_files_a_correction(harness):
    hospital, deceased, son = harness.org(), harness.patient(), harness.patient()
    record_id = next(iter(deposit(hospital, deceased)))
    establish(harness, deceased, son, NEXT_OF_KIN, "death-certificate")
    request = son.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
        patient_id=deceased.id, record_id=record_id, reason="incomplete")).request
    assert (request.filed_by, request.holder) == ("patient:" + son.id, hospital.id)
    [entry] = [e for e in entries_of(harness, "rights.requested") if e["request"] == request.request_id]
    assert entry["on_behalf_of"] == "patient"


def test_only_the_operator_establishes_a_representative_and_bad_evidence_is_named(harness):
    patient, relative, hospital = harness.patient(), harness.patient(), harness.org()
    established = len(entries_of(harness, "representative.established"))
    request = rights_pb2.EstablishRepresentativeRequest(
        patient_id=patient.id, representative_id=relative.id, basis=GUARDIAN, evidence_type="birth-certificate",
        evidence_hash=EVIDENCE)
    for caller in (patient, relative, hospital):
        refused(lambda c=caller: c.client.rights.EstablishRepresentative(request), grpc.StatusCode.PERMISSION_DENIED)
    err = refused(lambda: establish(harness, patient, relative, NEXT_OF_KIN, "birth-certificate",
                                    end_time=datetime_ts(datetime.now(UTC) - timedelta(days=1))),
                  grpc.StatusCode.INVALID_ARGUMENT)
    assert field_violations(err) == {
        "evidence_type": "must be one of court-order, death-certificate, kinship-certificate",
        "end_time": "must be in the future"}
    err = refused(lambda: harness.operator.rights.EstablishRepresentative(rights_pb2.EstablishRepresentativeRequest(
        patient_id=patient.id, representative_id=patient.id, evidence_hash="ABC")), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(err)) == {"representative_id", "basis", "evidence_hash"}
    ghost = Person("P-not-enrolled", patient.client, patient.identity)
    err = refused(lambda: establish(harness, patient, ghost, GUARDIAN, "court-order"), grpc.StatusCode.NOT_FOUND)
    assert err.details() == "the patient and the representative must both be enrolled"
    assert len(entries_of(harness, "representative.established")) == established


def datetime_ts(when: datetime):
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def test_a_retried_filing_returns_the_first_request_and_files_once(harness):
    hospital, patient = harness.org(), harness.patient()
    request = rights_pb2.FileRightsRequestRequest(patient_id=patient.id, type=rights_pb2.RIGHTS_REQUEST_TYPE_ERASURE,
                                                  holder=hospital.id, idempotency_key="erase-once")
    first = patient.client.rights.FileRightsRequest(request).request
    again = patient.client.rights.FileRightsRequest(request).request
    assert first == again
    assert len(patient.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests) == 1


def test_a_proxy_reading_the_history_lists_the_requests_but_files_none(harness):
    hospital, patient, daughter = harness.org(), harness.patient(), harness.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, relationship="daughter",
        scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY]))
    filed = file(patient, rights_pb2.RIGHTS_REQUEST_TYPE_OBJECTION, hospital.id)
    [seen] = daughter.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests
    assert seen.request_id == filed.request_id
    refused(lambda: file(daughter_as(daughter, patient), rights_pb2.RIGHTS_REQUEST_TYPE_ERASURE),
            grpc.StatusCode.PERMISSION_DENIED)


def daughter_as(proxy: Person, patient: Person) -> Person:
    """The proxy's client, filing in the patient's name."""
    return Person(patient.id, proxy.client, proxy.identity)
