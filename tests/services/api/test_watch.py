"""The live streams over gRPC on a real server: a patient's decisions and notices arrive as they
commit (emergencies flagged), a watch resumes after the last seq it saw, only the patient and
read-history proxies watch a patient; an institution sees the decisions on its own requests and
changes to its own consents only; watches are capped; a commit of another server on the same
database arrives; stopping the server ends the streams."""

from __future__ import annotations

import time

import grpc
import pytest
from backends import BACKENDS, database
from harness import Harness, grant
from nacl.signing import SigningKey
from watch_helpers import Reader

from consentry.services.cli.demo import discharge_records
from consentry.services.identity.tokens import Caller
from consentry.services.sdk import enrolment
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

LAB = ('{"resourceType":"Observation","status":"final","code":{"text":"potassium"},'
       '"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-10-01"}')
TERMS = consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])


@pytest.fixture(scope="module", params=BACKENDS)
def watched(request, tmp_path_factory):
    """A server with a quick heartbeat and room for the watches these tests open."""
    directory = tmp_path_factory.mktemp("consentry-watch")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, workers=16, watch_heartbeat_s=0.5)
        h.backend = request.param
        try:
            yield h
        finally:
            h.stop()


def story(h):
    """A hospital holding one lab result of a patient, and a family doctor with consent to it."""
    hospital, patient = h.org(), h.patient()
    doctor = h.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen")
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=(LAB % patient.id).encode(), category="lab"))
    grant(patient, doctor, ["lab"])
    return hospital, patient, doctor


def fetch(h, org, patient, purpose="TREAT", **kw):
    return list(org.client.fetch(patient.id, purpose, recipient_key=org.encryption, service_key=h.service_key, **kw))


def ask(org, patient):
    return org.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(
        notice=org.notice, patient_id=patient.id, reason="taking over your care", terms=TERMS)).request


def history(patient):
    return list(patient.client.consent.GetAccessHistory(
        consent_pb2.GetAccessHistoryRequest(patient_id=patient.id)).events)


def test_decisions_arrive_as_they_commit_built_as_the_history_builds_them(watched):
    _, patient, doctor = story(watched)
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    fetch(watched, doctor, patient)
    allowed = reader.next("access")
    fetch(watched, doctor, patient, purpose="HPAYMT")
    refused = reader.next("access")
    reader.close()
    assert allowed.allowed and allowed.institution_id == doctor.id and allowed.purpose == "TREAT"
    assert not refused.allowed and refused.purpose == "HPAYMT" and refused.reasons
    shown = [e for e in history(patient) if e.ledger_seq in (allowed.ledger_seq, refused.ledger_seq)]
    # The history also says whether the share was received; the watch pushed it before it was sent.
    assert [e.delivery for e in shown] == [consent_pb2.DELIVERY_STATUS_RECEIVED,
                                           consent_pb2.DELIVERY_STATUS_UNSPECIFIED]
    shown[0].ClearField("delivery")
    assert shown == [allowed, refused]


def test_an_emergency_access_arrives_flagged_with_its_notice(watched):
    hospital, patient, _ = story(watched)
    er = watched.org(practitioner="dr-er")
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    fetch(watched, er, patient, purpose="ETREAT", emergency_justification="unconscious on arrival")
    event = reader.next("access")
    notice = reader.next("notice")
    reader.close()
    assert event.emergency and event.allowed and event.emergency_access_id
    assert notice.kind == consent_pb2.NOTICE_KIND_EMERGENCY_ACCESS and notice.subject_ref == event.emergency_access_id


def test_a_new_access_request_arrives_as_a_notice(watched):
    patient, clinic = watched.patient(), watched.org()
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    request = ask(clinic, patient)
    notice = reader.next("notice")
    reader.close()
    assert notice.kind == consent_pb2.NOTICE_KIND_ACCESS_REQUESTED and notice.subject_ref == request.request_id
    assert [n.notice_id for n in patient.client.notices(patient.id)] == [notice.notice_id]


def test_a_quiet_watch_sends_heartbeats_and_its_opening_is_ledgered_once(watched):
    patient = watched.patient()
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    first, second = reader.next("heartbeat", timeout=3), reader.next("heartbeat", timeout=3)
    reader.close()
    assert second.ToNanoseconds() > first.ToNanoseconds()
    pseudonym = watched.pseudonym(patient.id)
    reads = [e for e in watched.entries() if e["kind"] == "metadata.read" and e.get("patient") == pseudonym]
    assert [(e["read"], e["count"]) for e in reads] == [("access-watch", 0)]


def test_a_resumed_watch_has_no_gap_and_no_duplicate(watched):
    _, patient, doctor = story(watched)
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    fetch(watched, doctor, patient)
    seen = reader.next("access").ledger_seq
    reader.close()
    fetch(watched, doctor, patient)
    fetch(watched, doctor, patient, purpose="HPAYMT")
    missed = [e.ledger_seq for e in history(patient) if e.ledger_seq > seen]
    resumed = Reader(patient.client.watch_access(patient.id, after_seq=seen))
    assert [resumed.next("access").ledger_seq for _ in missed] == missed
    resumed.opened()
    fetch(watched, doctor, patient)
    live = resumed.next("access").ledger_seq
    resumed.close()
    assert live > missed[-1] and len(missed) == 2


def test_only_the_patient_and_read_history_proxies_watch(watched):
    _, patient, doctor = story(watched)
    stranger, son, daughter = watched.patient(), watched.patient(), watched.patient()
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=son.id, scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS], relationship="son"))
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY],
        relationship="daughter"))
    for caller in (stranger, son, doctor):
        error = Reader(caller.client.watch_access(patient.id)).error()
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (caller, error.details())
    reader = Reader(daughter.client.watch_access(patient.id)).opened()
    fetch(watched, doctor, patient)
    assert reader.next("access").institution_id == doctor.id
    patient.client.consent.RemoveProxy(consent_pb2.RemoveProxyRequest(patient_id=patient.id, proxy_id=daughter.id))
    assert reader.error().code() == grpc.StatusCode.PERMISSION_DENIED  # a removed proxy's watch ends


def test_an_institution_sees_the_decisions_and_changes_of_its_own_only(watched):
    patient, clinic, other = watched.patient(), watched.org(), watched.org()
    mine, theirs = Reader(clinic.client.watch_consent_changes()).opened(), Reader(
        other.client.watch_consent_changes()).opened()
    asked, declined = ask(clinic, patient), ask(other, patient)
    approved = patient.client.consent.ApproveAccessRequest(consent_pb2.ApproveAccessRequestRequest(
        request_id=asked.request_id))
    consent_id = approved.consent.consent_id
    patient.client.consent.DeclineAccessRequest(consent_pb2.DeclineAccessRequestRequest(
        request_id=declined.request_id, reason="no"))
    patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"],
                                                              excepted_categories=["mental-health"])))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent_id))
    got = [mine.next("change") for _ in range(4)]
    kinds = consent_pb2.ConsentChangeKind
    assert [(kinds.Name(c.kind), c.request_id, c.consent_id, c.consent_version, c.patient_id) for c in got] == [
        ("CONSENT_CHANGE_KIND_REQUEST_APPROVED", asked.request_id, consent_id, 1, patient.id),
        ("CONSENT_CHANGE_KIND_CONSENT_GRANTED", asked.request_id, consent_id, 1, patient.id),
        ("CONSENT_CHANGE_KIND_CONSENT_NARROWED", "", consent_id, 2, patient.id),
        ("CONSENT_CHANGE_KIND_CONSENT_REVOKED", "", consent_id, 2, patient.id)]
    assert [c.ledger_seq for c in got] == sorted(c.ledger_seq for c in got)
    other_change = theirs.next("change")
    assert (other_change.kind, other_change.request_id) == (
        consent_pb2.CONSENT_CHANGE_KIND_REQUEST_DECLINED, declined.request_id)
    theirs.quiet("change", 1.0)
    mine.close(), theirs.close()
    resumed = Reader(clinic.client.watch_consent_changes(after_seq=got[1].ledger_seq))
    assert [resumed.next("change").ledger_seq for _ in range(2)] == [got[2].ledger_seq, got[3].ledger_seq]
    resumed.opened().close()
    reads = [e for e in watched.entries() if e["kind"] == "metadata.read" and e["read"] == "consent-changes-watch"
             and e["actor"] == "org:" + clinic.id]
    assert [(e["count"], "patient" in e) for e in reads] == [(0, False), (2, False)]
    error = Reader(patient.client.watch_consent_changes()).error()
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_watches_are_capped_per_caller(watched):
    patient = watched.patient()
    open_ = [Reader(patient.client.watch_access(patient.id)).opened() for _ in range(4)]
    error = Reader(patient.client.watch_access(patient.id)).error()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "at most 4 watches may be open at once per caller; close one first"
    open_.pop().close()
    deadline = time.monotonic() + 5
    while True:  # the server frees the watch once it sees the cancellation
        again = Reader(patient.client.watch_access(patient.id))
        try:
            open_.append(again.opened())
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    for reader in open_:
        reader.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_watches_are_capped_in_all(tmp_path, backend):
    with database(backend, tmp_path) as url:
        h = Harness.start(tmp_path / "data", url, watch_max_total=2)
        try:
            first, second = h.patient(), h.patient()
            open_ = [Reader(p.client.watch_access(p.id)).opened() for p in (first, second)]
            error = Reader(h.org().client.watch_consent_changes()).error()
            assert (error.code(), error.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                       "the server has as many watches open as it serves; retry later")
            for reader in open_:
                reader.close()
        finally:
            h.stop()


def test_a_commit_of_another_server_on_the_same_database_arrives(watched):
    _, patient, doctor = story(watched)
    second = Harness.start(watched.settings.data_dir, watched.settings.database_url)
    try:
        reader = Reader(patient.client.watch_access(patient.id)).opened()
        elsewhere = Client(second.target, Caller("org:" + doctor.id, doctor.identity, role="physician",
                                                 practitioner="dr-chen"))
        second.clients.append(elsewhere)
        list(elsewhere.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=second.service_key))
        event = reader.next("access", timeout=5)
        reader.close()
        assert event.allowed and event.institution_id == doctor.id
    finally:
        second.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopping_the_server_ends_the_streams(tmp_path, backend):
    with database(backend, tmp_path) as url:
        h = Harness.start(tmp_path / "data", url, watch_heartbeat_s=30)
        patient, clinic = h.patient(), h.org()
        readers = [Reader(patient.client.watch_access(patient.id)).opened(),
                   Reader(clinic.client.watch_consent_changes()).opened()]
        started = time.monotonic()
        h.server.stop(grace=10)
        assert time.monotonic() - started < 5
        for reader in readers:  # told to reconnect, to another server if any (docs/operations.md, "Drain")
            assert reader.error(timeout=5).code() == grpc.StatusCode.UNAVAILABLE
        for c in [h.operator, *h.clients]:
            c.close()


def test_the_stream_is_the_history_for_a_discharge_fetch(watched):
    """Several records in one fetch: one event each, in ledger order."""
    hospital, patient = watched.org(), watched.patient()
    doctor = watched.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen")
    for title, body in discharge_records(patient.id).items():
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
    grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    reader = Reader(patient.client.watch_access(patient.id)).opened()
    outcomes = fetch(watched, doctor, patient)
    got = [reader.next("access") for _ in outcomes]
    reader.close()
    shown = [e for e in history(patient) if e.ledger_seq >= got[0].ledger_seq][:len(got)]
    for event in shown:  # the watch leaves whether a share was received to the history
        event.ClearField("delivery")
    assert got == shown
    assert sorted(e.allowed for e in got) == sorted(o.shared for o in outcomes)


def test_a_watch_ends_when_the_key_that_opened_it_is_replaced(watched):
    """A lost device keeps no live feed once the patient re-enrols; a rotated institution key's
    watch ends too (a stream has no grace: it is opened again with the current key)."""
    patient, clinic = watched.patient(), watched.org()
    lost = Reader(patient.client.watch_access(patient.id)).opened()
    code = watched.operator.registry.CreateEnrolmentCode(
        registry_pb2.CreateEnrolmentCodeRequest(patient_id=patient.id)).code
    new_key = SigningKey.generate()
    enrolment.redeem(watched.client(Caller("patient:nobody", SigningKey.generate())).registry, code, new_key)
    error = lost.error()
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "no longer current" in error.details()
    renewed = Reader(watched.client(Caller("patient:" + patient.id, new_key)).watch_access(patient.id)).opened()
    renewed.close()

    changes = Reader(clinic.client.watch_consent_changes()).opened()
    rotated = SigningKey.generate()
    clinic.client.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
        institution_id=clinic.id, type=registry_pb2.KEY_TYPE_IDENTITY, public_key=bytes(rotated.verify_key)))
    assert changes.error().code() == grpc.StatusCode.UNAUTHENTICATED
