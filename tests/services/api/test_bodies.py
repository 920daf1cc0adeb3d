"""One body limit for the service's check and the transport, and FHIR JSON only in UTF-8
(docs/limits.md, "Bodies"): over a real channel, on a server with a small limit and on one with
the default limit."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from backends import BACKENDS, database
from harness import Harness, field_violations, grant

from consentry.services import config
from consentry.services.config import DEFAULT_MAX_BODY_BYTES, MESSAGE_HEADROOM_BYTES, Settings
from consentry.v1 import exchange_pb2

SMALL = 1024 * 1024  # the least the setting may be


@pytest.fixture(scope="module", params=BACKENDS)
def small(request, tmp_path_factory):
    """A server whose bodies may hold SMALL bytes."""
    directory = tmp_path_factory.mktemp("bodies")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, max_body_bytes=SMALL)
        try:
            yield h
        finally:
            h.stop()


def note(patient_id: str, size: int) -> bytes:
    """A DocumentReference of exactly `size` bytes: a clinical note with an attached file."""
    doc = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
           "date": "2026-11-18T15:00:00Z", "content": [{"attachment": {"contentType": "application/pdf", "data": ""}}]}
    room = size - len(json.dumps(doc).encode())
    doc["content"][0]["attachment"]["data"] = "A" * room
    body = json.dumps(doc).encode()
    assert len(body) == size
    return body


def put(org, patient_id: str, body: bytes) -> exchange_pb2.PutRecordResponse:
    return org.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient_id, fhir_json=body,
                                                                       category="discharge-summary"))


def test_a_body_of_the_limit_is_filed_and_one_byte_more_is_invalid(small):
    hospital, patient = small.org(), small.patient()
    assert put(hospital, patient.id, note(patient.id, SMALL)).record.record_id
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient.id, note(patient.id, SMALL + 1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"fhir_json": f"must be at most {SMALL} bytes"}


def test_past_the_headroom_the_transport_refuses_the_message(small):
    """What the transport says when a message is larger than the body limit plus the headroom:
    it cannot be read at all, so nothing is ledgered either."""
    hospital, patient = small.org(), small.patient()
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient.id, note(patient.id, SMALL + MESSAGE_HEADROOM_BYTES + 1))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_document_of_several_megabytes_is_filed_and_shared_whole(harness):
    """A real discharge letter with its scanned PDF runs to a few MB; the default limit takes it and
    the SDK's channel receives its share."""
    hospital, patient, doctor = harness.org(), harness.patient(), harness.org()
    pdf = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256)) * (5 * 4096)).decode()
    body = json.dumps({
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient.id}"},
        "type": {"coding": [{"system": "http://loinc.org", "code": "18842-5"}]}, "date": "2026-11-20T10:00:00Z",
        "content": [{"attachment": {"contentType": "application/pdf", "data": pdf}}]}).encode()
    assert 5 * 1024 * 1024 < len(body) < DEFAULT_MAX_BODY_BYTES
    put(hospital, patient.id, body)
    grant(patient, doctor, ["discharge-summary"])
    [shared] = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                   service_key=harness.service_key)
    assert shared.body == body


@pytest.mark.parametrize("body", [
    b"\xef\xbb\xbf" + b'{"resourceType": "Patient"}',
    '{"resourceType": "Patient"}'.encode("utf-16"),
    '{"resourceType": "Patient"}'.encode("utf-16-le"),
    '{"resourceType": "Patient"}'.encode("utf-32"),
    b'{"resourceType": "Patient", "name": [{"family": "M\xfcller"}]}',  # Latin-1, not UTF-8
], ids=["utf-8 with a byte-order mark", "utf-16", "utf-16 without a byte-order mark", "utf-32", "latin-1"])
def test_fhir_json_is_utf8_only(harness, body):
    hospital, patient = harness.org(), harness.patient()
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient.id, body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"fhir_json": "must be JSON text in UTF-8, without a byte-order mark"}


@pytest.mark.parametrize("value", [["Observation"], {"name": "Observation"}, 7, None, True])
def test_a_resource_type_of_the_wrong_json_type_is_invalid(harness, value):
    hospital, patient = harness.org(), harness.patient()
    body = json.dumps({"resourceType": value, "subject": {"reference": f"Patient/{patient.id}"}}).encode()
    with pytest.raises(grpc.RpcError) as err:
        put(hospital, patient.id, body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fhir_json.resourceType" in field_violations(err.value)


def test_the_limit_is_configured_in_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CONSENTRY_MAX_BODY_BYTES", str(3 * 1024 * 1024))
    assert Settings.load(tmp_path).max_body_bytes == 3 * 1024 * 1024
    monkeypatch.delenv("CONSENTRY_MAX_BODY_BYTES")
    assert Settings.load(tmp_path).max_body_bytes == DEFAULT_MAX_BODY_BYTES
    for wrong in (str(1024 * 1024 - 1), str(2 * 1024**3)):
        monkeypatch.setenv("CONSENTRY_MAX_BODY_BYTES", wrong)
        with pytest.raises(ValueError, match="CONSENTRY_MAX_BODY_BYTES must be from"):
            config.max_body_bytes()
