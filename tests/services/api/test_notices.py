"""The patient's notice outbox over gRPC: a notice queued with the event that caused it, listed
to the patient and their read-history proxies only, marked read, and carrying no caller text."""

from __future__ import annotations

import grpc
import pytest
from harness import field_violations

from consentry.services.domain import notices
from consentry.v1 import consent_pb2


def ask(org, patient, reason="we are taking over your care"):
    return org.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=org.notice,
        patient_id=patient.id, reason=reason,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).request


def test_an_access_request_queues_a_notice_naming_it_and_nothing_else(harness):
    doctor, patient = harness.org(), harness.patient()
    request = ask(doctor, patient, reason="private words of the requester")
    [notice] = patient.client.notices(patient.id)
    assert notice.kind == consent_pb2.NOTICE_KIND_ACCESS_REQUESTED
    assert notice.subject_ref == request.request_id and notice.patient_id == patient.id
    assert notice.create_time.seconds > 0 and not notice.HasField("read_time")
    assert b"private words" not in notice.SerializeToString()
    rows = harness.sql("SELECT kind, subject_ref FROM patient_notices WHERE patient_id = :p", p=patient.id)
    assert [tuple(r) for r in rows] == [(notices.ACCESS_REQUESTED, request.request_id)]


def test_a_request_for_an_unknown_id_queues_no_notice(harness):
    doctor = harness.org()
    before = harness.sql("SELECT count(*) FROM patient_notices")[0][0]
    doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=doctor.notice,
        patient_id="P-never-enrolled", reason="r", terms=consent_pb2.ConsentTerms(categories=["lab"],
                                                                                 purposes=["TREAT"])))
    assert harness.sql("SELECT count(*) FROM patient_notices")[0][0] == before


def test_notices_are_paged_oldest_first_and_marked_read(harness):
    doctor, patient = harness.org(), harness.patient()
    asked = [ask(doctor, patient).request_id for _ in range(3)]
    first = patient.client.consent.ListNotices(consent_pb2.ListNoticesRequest(patient_id=patient.id, page_size=2))
    assert len(first.notices) == 2 and first.next_page_token
    rest = patient.client.consent.ListNotices(consent_pb2.ListNoticesRequest(
        patient_id=patient.id, page_size=2, page_token=first.next_page_token))
    assert [n.subject_ref for n in [*first.notices, *rest.notices]] == asked and rest.next_page_token == ""
    marked = patient.client.mark_notices_read(patient.id, [first.notices[0].notice_id])
    assert marked[0].HasField("read_time")
    assert [n.subject_ref for n in patient.client.notices(patient.id, unread_only=True)] == asked[1:]


def test_only_the_patient_and_read_history_proxies_list_notices(harness):
    doctor, patient, stranger, daughter = harness.org(), harness.patient(), harness.patient(), harness.patient()
    ask(doctor, patient)
    patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=patient.id, proxy_id=daughter.id, scopes=[consent_pb2.PROXY_SCOPE_READ_HISTORY],
        relationship="daughter"))
    assert len(daughter.client.notices(patient.id)) == 1
    for client in (stranger.client, doctor.client):
        with pytest.raises(grpc.RpcError) as err:
            client.notices(patient.id)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_marking_another_patients_notice_is_not_found_and_changes_nothing(harness):
    doctor, patient, other = harness.org(), harness.patient(), harness.patient()
    ask(doctor, other)
    [theirs] = other.client.notices(other.id)
    with pytest.raises(grpc.RpcError) as err:
        patient.client.mark_notices_read(patient.id, [theirs.notice_id])
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and err.value.details() == notices.NO_NOTICE
    assert not other.client.notices(other.id)[0].HasField("read_time")


def test_bad_notice_requests_name_each_field(harness):
    patient = harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.MarkNoticesRead(consent_pb2.MarkNoticesReadRequest(patient_id=patient.id,
                                                                                 notice_ids=["nope"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {"notice_ids[0]"}
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.ListNotices(consent_pb2.ListNoticesRequest(patient_id=patient.id, page_token="x"))
    assert set(field_violations(err.value)) == {"page_token"}
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.MarkNoticesRead(consent_pb2.MarkNoticesReadRequest(patient_id=patient.id))
    assert field_violations(err.value) == {"notice_ids": "must name at least one notice"}


def test_queue_notice_takes_only_its_closed_kinds(harness):
    with harness.app.db.write() as s, pytest.raises(ValueError, match="unknown notice kind"):
        notices.queue_notice(s, "P1", "free text", "x")
