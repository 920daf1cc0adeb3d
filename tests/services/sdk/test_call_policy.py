"""The SDK's deadlines and retries (sdk/call_policy.py; docs/operations.md, "Clients: deadlines
and retries"): a read or a keyed write that fails UNAVAILABLE is made again, each attempt with a
fresh token, and a keyed write retried after its answer was lost is written once; a write without
a key, and a stream, are never retried; retries stop at the call's deadline; the watches have none.

`_StandIn` is a stand-in for the network, not for Consentry: a gRPC server that either answers
every call UNAVAILABLE, or forwards it to the real server and loses the first answers of one
method (the caller gets UNAVAILABLE instead), counting what it saw."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from harness import grant
from nacl.signing import SigningKey
from silent_listener import silent_listener

from consentry.services.api.server import Server
from consentry.services.cli.bootstrap import build_app
from consentry.services.identity.tokens import METADATA_KEY, Caller
from consentry.services.sdk.call_policy import READS, UNKEYED_WRITES, RetryPolicy
from consentry.services.sdk.client import Client
from consentry.v1 import (
    audit_pb2,
    consent_pb2,
    exchange_pb2,
    registry_pb2,
    rights_pb2,
)

QUICK = RetryPolicy(attempts=4, first_pause_s=0.01, max_pause_s=0.05)
REGISTER = "/consentry.v1.RegistryService/RegisterInstitution"


class _StandIn(grpc.GenericRpcHandler):
    def __init__(self, upstream: str | None = None, lose: str = "", losses: int = 0) -> None:
        self.calls: list[tuple[str, bytes, str]] = []  # method, request bytes, token
        self._upstream = grpc.insecure_channel(upstream) if upstream else None
        self._lose, self._losses = lose, losses
        self._server = grpc.server(ThreadPoolExecutor(4), handlers=[self])
        self.target = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            token = dict(context.invocation_metadata()).get(METADATA_KEY, "")
            self.calls.append((method, request, token))
            if self._upstream is None:
                context.abort(grpc.StatusCode.UNAVAILABLE, "stand-in: down")
            answer = self._upstream.unary_unary(method)(request, metadata=[(METADATA_KEY, token)], timeout=10)
            if method == self._lose and self._losses:
                self._losses -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "stand-in: the answer was lost")
            return answer

        def stream(request: bytes, context: grpc.ServicerContext):
            self.calls.append((method, request, ""))
            context.abort(grpc.StatusCode.UNAVAILABLE, "stand-in: down")
            yield b""

        if method.endswith(("/FetchRecords", "/WatchAccess", "/WatchConsentChanges")):
            return grpc.unary_stream_rpc_method_handler(stream)
        return grpc.unary_unary_rpc_method_handler(unary)

    def methods(self) -> list[str]:
        return [m.rsplit("/", 1)[-1] for m, _, _ in self.calls]

    def stop(self) -> None:
        self._server.stop(0)
        if self._upstream is not None:
            self._upstream.close()


@pytest.fixture
def down():
    stand_in = _StandIn()
    yield stand_in
    stand_in.stop()


def _operator(target: str, **options) -> Client:
    return Client(target, Caller("operator", SigningKey.generate()), **options)


def _register(org_id: str, key: str = "") -> registry_pb2.RegisterInstitutionRequest:
    return registry_pb2.RegisterInstitutionRequest(
        institution_id=org_id, display_name=org_id, kind=registry_pb2.INSTITUTION_KIND_HOSPITAL,
        identity_public_key=bytes(SigningKey.generate().verify_key),
        encryption_public_key=secrets.token_bytes(32), idempotency_key=key)


def test_every_unary_method_is_a_read_a_keyed_write_or_a_named_unkeyed_write():
    """A new method must be placed: retried as a read, retried by its key, or never retried."""
    for module in (audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.server_streaming:
                    continue
                keyed = "idempotency_key" in method.input_type.fields_by_name
                assert [method.name in READS, keyed, method.name in UNKEYED_WRITES].count(True) == 1, method.name


def test_a_write_without_an_idempotency_key_is_made_once(down):
    with _operator(down.target, retry=QUICK) as client:
        with pytest.raises(grpc.RpcError) as failed:
            client.registry.RegisterInstitution(_register("org-once"))
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):
            client.registry.RedeemEnrolmentCode(registry_pb2.RedeemEnrolmentCodeRequest())
        with pytest.raises(grpc.RpcError):
            list(client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(purpose="TREAT")))
    assert down.methods() == ["RegisterInstitution", "RedeemEnrolmentCode", "FetchRecords"]


def test_a_read_and_a_keyed_write_are_retried_each_attempt_with_a_fresh_token(down):
    with _operator(down.target, retry=QUICK) as client:
        with pytest.raises(grpc.RpcError) as failed:
            client.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id="org-x"))
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError):
            client.registry.RegisterInstitution(_register("org-keyed", key="k-1"))
    assert down.methods() == ["GetInstitution"] * 4 + ["RegisterInstitution"] * 4
    tokens = [token for _, _, token in down.calls]
    assert all(tokens) and len(set(tokens)) == 8  # a resent token would be refused as a replay
    writes = [registry_pb2.RegisterInstitutionRequest.FromString(raw) for _, raw, _ in down.calls[4:]]
    assert {w.idempotency_key for w in writes} == {"k-1"}


def test_with_idempotency_keys_a_write_gets_one_key_for_all_its_attempts(down):
    request = _register("org-auto")
    with _operator(down.target, retry=QUICK, idempotency_keys=True) as client, pytest.raises(grpc.RpcError):
        client.registry.RegisterInstitution(request)
    assert request.idempotency_key == ""  # the caller's message is left as it was
    keys = {registry_pb2.RegisterInstitutionRequest.FromString(raw).idempotency_key for _, raw, _ in down.calls}
    assert len(down.calls) == 4 and len(keys) == 1 and len(keys.pop()) >= 20


def test_retries_stop_at_the_deadline(down):
    slow = RetryPolicy(attempts=10, first_pause_s=0.4, max_pause_s=0.4)
    request = registry_pb2.GetInstitutionRequest(institution_id="org-x")
    with _operator(down.target, retry=slow, timeout_s=1.0) as client:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failed:
            client.registry.GetInstitution(request)
    assert time.monotonic() - started < 1.5
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert 3 <= len(down.calls) <= 6  # pauses of 0.2-0.4 s in 1 s, not the 10 attempts


def test_a_keyed_write_whose_answer_was_lost_is_retried_and_written_once(harness):
    org_id = f"org-{secrets.token_hex(4)}"
    lossy = _StandIn(harness.target, lose=REGISTER, losses=1)
    try:
        with Client(lossy.target, harness.operator.caller, retry=QUICK) as client:
            reply = client.registry.RegisterInstitution(_register(org_id, key=secrets.token_urlsafe(12)))
    finally:
        lossy.stop()
    assert reply.institution.institution_id == org_id
    assert lossy.methods() == ["RegisterInstitution", "RegisterInstitution"]  # the server saw it twice
    assert harness.sql("SELECT count(*) FROM institutions WHERE institution_id = :id", id=org_id)[0][0] == 1
    registered = [e for e in harness.entries()
                  if e.get("kind") == "institution.registered" and org_id in str(e.get("institution"))]
    assert len(registered) == 1, registered


def test_a_call_made_while_the_server_is_down_succeeds_once_it_comes_up(harness):
    """The server restarts on its port while the client retries: the keyed write is made once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started: list[Server] = []

    def come_up() -> None:
        time.sleep(0.5)
        app, signer = build_app(harness.settings)
        started.append(Server(app, signer, f"127.0.0.1:{port}", workers=4, cuts_checkpoints=False).start())

    org_id = f"org-{secrets.token_hex(4)}"
    patient = RetryPolicy(attempts=10, first_pause_s=0.2, max_pause_s=1.0)
    later = threading.Thread(target=come_up)
    later.start()
    try:
        with Client(f"127.0.0.1:{port}", harness.operator.caller, retry=patient, timeout_s=20) as client:
            reply = client.registry.RegisterInstitution(_register(org_id, key=secrets.token_urlsafe(12)))
            assert reply.institution.institution_id == org_id
            assert client.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=org_id))
    finally:
        later.join()
        for server in started:
            server.stop(0)
    assert harness.sql("SELECT count(*) FROM institutions WHERE institution_id = :id", id=org_id)[0][0] == 1


def test_a_watch_has_no_deadline_and_a_finite_call_has_the_clients(harness):
    org, patient = harness.org(), harness.patient()
    hasty = Client(harness.target, org.client.caller, timeout_s=0.5)
    try:
        with hasty.watch_consent_changes() as watch:
            time.sleep(1.5)  # three deadlines' worth
            consent = grant(patient, org, ["lab"])
            seen = next(item for item in watch if item.HasField("change"))
            assert seen.change.consent_id == consent.consent_id
    finally:
        hasty.close()


def test_a_call_to_a_server_that_never_answers_ends_at_the_deadline():
    with silent_listener() as target, _operator(target, timeout_s=0.5, retry=QUICK) as client:
        for call in (lambda: client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()),
                     lambda: list(client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(purpose="TREAT")))):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as failed:
                call()
            assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 2
