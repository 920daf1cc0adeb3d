"""The web front door over a real HTTP connection: gRPC-Web calls reach the same servicers, through
the same guard, with the same answers as gRPC; static pages come with the headers that keep a page
from running anything but its own scripts."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import struct
import time
import urllib.parse
from dataclasses import dataclass

import grpc
import pytest
from backends import BACKENDS, database
from google.rpc import error_details_pb2, status_pb2
from harness import NONCE, Harness, grant
from pki import Pki

from consentry.services.api.rate_limits import FORWARDED_BY, FORWARDED_PEER
from consentry.services.api.transport import ListenError
from consentry.services.api.web_gateway import WebGateway, check
from consentry.services.cli.demo import discharge_records
from consentry.services.config import MESSAGE_HEADROOM_BYTES
from consentry.services.identity.tokens import Caller
from consentry.v1 import audit_pb2, exchange_pb2, registry_pb2

LIST_ENTRIES = "/consentry.v1.AuditService/ListEntries"
FETCH = "/consentry.v1.ExchangeService/FetchRecords"


@dataclass
class WebAnswer:
    http_status: int
    headers: dict[str, str]
    messages: list[bytes]
    trailers: dict[str, str]

    @property
    def grpc_status(self) -> int:
        return int(self.trailers["grpc-status"])


def connection(harness) -> http.client.HTTPConnection:
    url = urllib.parse.urlsplit(harness.server.web.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def grpc_web(harness, method: str, request: bytes, token: str | None = None, connect=None) -> WebAnswer:
    """One gRPC-Web call as a browser makes it; the answer's frames split into messages and trailers."""
    conn = (connect or connection)(harness)
    headers = {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", method, body=struct.pack(">BI", 0, len(request)) + request, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    messages, trailers = [], {}
    while body:
        flag, length = struct.unpack(">BI", body[:5])
        payload, body = body[5:5 + length], body[5 + length:]
        if flag & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return WebAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, messages, trailers)


def test_a_unary_call_answers_the_bytes_the_grpc_call_answers(web_harness):
    for _ in range(4):
        web_harness.patient()  # each enrolment is an entry
    auditor = web_harness.auditor()
    request = audit_pb2.ListEntriesRequest(start=0, page_size=5).SerializeToString()
    token = Caller("auditor:" + auditor.id, auditor.identity).token(LIST_ENTRIES, request)
    answer = grpc_web(web_harness, LIST_ENTRIES, request, token)
    over_grpc = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=0, page_size=5))
    assert answer.http_status == 200
    assert answer.headers["content-type"] == "application/grpc-web+proto"
    assert answer.grpc_status == 0
    assert answer.messages == [over_grpc.SerializeToString()]
    assert len(audit_pb2.ListEntriesResponse.FromString(answer.messages[0]).entries) == 5


def test_a_call_without_a_token_is_unauthenticated_in_the_trailers(web_harness):
    answer = grpc_web(web_harness, LIST_ENTRIES, audit_pb2.ListEntriesRequest().SerializeToString())
    assert answer.http_status == 200
    assert answer.messages == []
    assert answer.grpc_status == 16  # UNAUTHENTICATED
    assert "token" in urllib.parse.unquote(answer.trailers["grpc-message"])


def test_a_token_for_other_bytes_is_refused_as_over_grpc(web_harness):
    """The gateway forwards the bytes it received: a token signed for another request does not fit."""
    auditor = web_harness.auditor()
    signed = audit_pb2.ListEntriesRequest(start=0).SerializeToString()
    sent = audit_pb2.ListEntriesRequest(start=1).SerializeToString()
    token = Caller("auditor:" + auditor.id, auditor.identity).token(LIST_ENTRIES, signed)
    answer = grpc_web(web_harness, LIST_ENTRIES, sent, token)
    assert answer.grpc_status == 16


def test_a_refusal_carries_its_field_violations(web_harness):
    auditor = web_harness.auditor()
    request = audit_pb2.ListEntriesRequest(page_size=5000).SerializeToString()
    token = Caller("auditor:" + auditor.id, auditor.identity).token(LIST_ENTRIES, request)
    answer = grpc_web(web_harness, LIST_ENTRIES, request, token)
    assert answer.grpc_status == 3  # INVALID_ARGUMENT
    status = status_pb2.Status.FromString(base64.b64decode(answer.trailers["grpc-status-details-bin"]))
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["page_size"]


def test_a_server_streaming_call_sends_each_response_then_its_status(web_harness):
    hospital, patient = web_harness.org(), web_harness.patient()
    doctor = web_harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen")
    for title, body in discharge_records(patient.id).items():
        if title != "psychiatric note":
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    request = exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="TREAT", nonce=NONCE).SerializeToString()
    token = Caller("org:" + doctor.id, doctor.identity, role="physician", practitioner="dr-chen").token(FETCH, request)
    answer = grpc_web(web_harness, FETCH, request, token)
    assert answer.grpc_status == 0, answer.trailers
    items = [exchange_pb2.FetchRecordsResponse.FromString(m) for m in answer.messages]
    assert len(items) == 3 and all(item.shared.package.ciphertext for item in items)
    assert answer.headers["connection"] == "close"


def test_a_refused_server_streaming_call_ends_with_its_status(web_harness):
    answer = grpc_web(web_harness, FETCH, b"")
    assert answer.grpc_status == 16
    assert answer.headers["connection"] == "close"


def test_a_body_over_the_grpc_limit_is_refused_unread(web_harness):
    limit = web_harness.settings.max_body_bytes + MESSAGE_HEADROOM_BYTES
    conn = connection(web_harness)
    conn.putrequest("POST", LIST_ENTRIES)
    conn.putheader("Content-Type", "application/grpc-web+proto")
    conn.putheader("Content-Length", str(limit + 5 + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("application/json", b"{}", 415),
    ("application/grpc-web+proto", b"\x01\x00\x00\x00\x00", 200),  # compressed frame: INVALID_ARGUMENT
])
def test_what_is_not_a_grpc_web_message_is_refused(web_harness, content_type, body, status):
    conn = connection(web_harness)
    conn.request("POST", LIST_ENTRIES, body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    assert response.status == status
    if status == 200:
        assert response.getheader("Content-Type") == "application/grpc-web+proto"
    conn.close()


def test_an_unknown_method_is_not_found(web_harness):
    answer_conn = connection(web_harness)
    answer_conn.request("POST", "/grpc.health.v1.Health/Check", body=b"\x00\x00\x00\x00\x00",
                        headers={"Content-Type": "application/grpc-web+proto"})
    assert answer_conn.getresponse().status == 404


@pytest.mark.parametrize(("path", "content_type"), [
    ("/auditor/", "text/html; charset=utf-8"),
    ("/lib/merkle.js", "text/javascript; charset=utf-8"),
    ("/lib/style.css", "text/css; charset=utf-8"),
])
def test_static_assets_come_with_their_type_and_security_headers(web_harness, path, content_type):
    conn = connection(web_harness)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and body
    assert response.getheader("Content-Type") == content_type
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    csp = response.getheader("Content-Security-Policy")
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/%2e%2e/__init__.py", "/auditor/../../__init__.py",
                                  "/nothing-here.js"])
def test_nothing_outside_the_static_pages_is_served(web_harness, path):
    conn = connection(web_harness)
    conn.request("GET", path)
    assert conn.getresponse().status == 404


def test_the_root_leads_to_the_auditor_page(web_harness):
    conn = connection(web_harness)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.status == 302 and response.getheader("Location") == "/auditor/"


@pytest.mark.parametrize("address", ["0.0.0.0:8080", "192.0.2.1:443", "example.org:80"])
def test_plain_http_off_loopback_is_refused(harness, address):
    with pytest.raises(ListenError, match="secure context"):
        check(harness.settings, address)


def test_plain_http_on_loopback_is_allowed(harness):
    check(harness.settings, "127.0.0.1:0")
    check(harness.settings, "localhost:8080")


@pytest.fixture(scope="module", params=BACKENDS)
def mtls_web_harness(request, tmp_path_factory):
    """A mutual-TLS server whose web front door serves HTTPS with the server's certificate."""
    directory = tmp_path_factory.mktemp("consentry-mtls-web")
    pki = Pki.create(directory / "pki")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, roots=pki.server_ca.pem, http="127.0.0.1:0",
                          **pki.server_settings())
        h.pki = pki
        try:
            yield h
        finally:
            h.stop()


def https(harness) -> http.client.HTTPSConnection:
    url = urllib.parse.urlsplit(harness.server.web.url)
    context = ssl.create_default_context(cadata=harness.pki.server_ca.pem.decode())
    return http.client.HTTPSConnection(url.hostname, url.port, timeout=30, context=context)


def test_with_tls_the_front_door_serves_https_only(mtls_web_harness):
    assert mtls_web_harness.server.web.url.startswith("https://127.0.0.1:")
    conn = https(mtls_web_harness)
    conn.request("GET", "/auditor/")
    assert conn.getresponse().status == 200
    plain = connection(mtls_web_harness)
    plain.request("GET", "/auditor/")  # a TLS server reads it as a broken handshake
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.getresponse()


def test_on_an_mtls_server_auditors_get_in_and_institutions_do_not(mtls_web_harness):
    """The gateway's connection carries no client certificate: the web door is for patients and
    auditors, as the listener without client certificates is."""
    auditor = mtls_web_harness.auditor()
    request = audit_pb2.ListEntriesRequest().SerializeToString()
    token = Caller("auditor:" + auditor.id, auditor.identity).token(LIST_ENTRIES, request)
    assert grpc_web(mtls_web_harness, LIST_ENTRIES, request, token, connect=https).grpc_status == 0
    org = mtls_web_harness.org()
    checkpoint = "/consentry.v1.AuditService/GetCheckpoint"
    token = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(checkpoint, b"")
    refused = grpc_web(mtls_web_harness, checkpoint, b"", token, connect=https)
    assert refused.grpc_status == 16, refused.trailers
    assert "certificate" in urllib.parse.unquote(refused.trailers["grpc-message"]), refused.trailers


def test_failed_authentications_count_against_the_browser_not_the_server(tmp_path):
    """The gateway forwards from 127.0.0.1; the browser here calls from ::1, and that is the source
    the refusal is counted (and ledgered) under. A caller that writes the gateway's header itself
    is still judged by its own address."""
    with database("sqlite", tmp_path) as url:
        h = Harness.start(tmp_path / "data", url, http="[::1]:0")
        try:
            assert h.server.web.url.startswith("http://[::1]:")
            assert grpc_web(h, LIST_ENTRIES, b"").grpc_status == 16
            spoofed = grpc.insecure_channel(h.target).unary_unary(LIST_ENTRIES)
            with pytest.raises(grpc.RpcError):
                spoofed(b"", metadata=[(FORWARDED_PEER, "ipv4:192.0.2.7:1"), (FORWARDED_BY, "a guess")])
            sources = {e["source"] for e in h.flush_refusals() if e["kind"] == "auth.refused"}
            assert sources == {"ipv6:::/64", "ipv4:127.0.0.1"}
        finally:
            h.stop()


def test_connections_past_the_limit_are_closed_until_one_ends(web_harness):
    gateway = WebGateway(web_harness.settings, "127.0.0.1:0", web_harness.target, "secret", max_connections=1).start()
    try:
        idle = socket.create_connection(("127.0.0.1", gateway.port))  # holds the one slot, says nothing
        refused = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        refused.request("GET", "/auditor/")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            refused.getresponse()
        idle.close()
        for _ in range(50):  # the slot frees once the idle connection's thread has seen it close
            conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            try:
                conn.request("GET", "/auditor/")
                assert conn.getresponse().status == 200
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                time.sleep(0.1)
        else:
            pytest.fail("the slot never came back")
    finally:
        gateway.stop()
