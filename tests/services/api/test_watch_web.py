"""WatchAccess through the web front door: a browser's gRPC-Web call over HTTP reads the live
stream frame by frame as the events commit, as a gRPC client does."""

from __future__ import annotations

import http.client
import struct
import time
import urllib.parse

from harness import grant

from consentry.services.identity.tokens import Caller
from consentry.v1 import consent_pb2, exchange_pb2

WATCH_ACCESS = "/consentry.v1.ConsentService/WatchAccess"
LAB = ('{"resourceType":"Observation","status":"final","code":{"text":"potassium"},'
       '"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-10-01"}')


def next_response(response: http.client.HTTPResponse) -> consent_pb2.WatchAccessResponse:
    """The next message frame of the open stream (the stream must not end first)."""
    flag, length = struct.unpack(">BI", response.read(5))
    assert not flag & 0x80, "the stream ended"
    return consent_pb2.WatchAccessResponse.FromString(response.read(length))


def test_a_browser_reads_the_access_stream_as_it_commits(web_harness):
    hospital, patient, doctor = web_harness.org(), web_harness.patient(), web_harness.org()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=(LAB % patient.id).encode(), category="lab"))
    grant(patient, doctor, ["lab"])
    request = consent_pb2.WatchAccessRequest(patient_id=patient.id).SerializeToString()
    token = Caller("patient:" + patient.id, patient.identity).token(WATCH_ACCESS, request)
    url = urllib.parse.urlsplit(web_harness.server.web.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", WATCH_ACCESS, body=struct.pack(">BI", 0, len(request)) + request, headers={
        "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    try:
        assert response.status == 200 and response.getheader("content-type") == "application/grpc-web+proto"
        assert next_response(response).WhichOneof("event") == "heartbeat"  # open
        list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                 service_key=web_harness.service_key))
        while (item := next_response(response)).WhichOneof("event") != "access":
            pass
        assert item.access.allowed and item.access.institution_id == doctor.id and item.access.category == "lab"
    finally:
        conn.close()


def test_a_page_that_goes_away_frees_its_watch_at_once(web_harness):
    """A patient reloading the portal more often than the per-caller cap of watches is not
    refused: the front door stops a stream's call as soon as the browser closes the connection,
    not at the watch's next heartbeat."""
    patient = web_harness.patient()
    request = consent_pb2.WatchAccessRequest(patient_id=patient.id).SerializeToString()
    url = urllib.parse.urlsplit(web_harness.server.web.url)
    for _ in range(web_harness.settings.watch_per_principal + 2):
        token = Caller("patient:" + patient.id, patient.identity).token(WATCH_ACCESS, request)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("POST", WATCH_ACCESS, body=struct.pack(">BI", 0, len(request)) + request, headers={
            "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.getheader("grpc-status") is None, response.getheader("grpc-message")
        assert next_response(response).WhichOneof("event") == "heartbeat"
        conn.close()
        time.sleep(0.3)  # the front door sees the close and cancels; the server frees the watch
