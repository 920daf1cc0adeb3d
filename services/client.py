"""Client SDK: signs a fresh token for every call, and verifies and opens shared records.

    caller = Caller("org:familydoc", signing_key, role="physician", practitioner="dr-lee")
    client = Client("127.0.0.1:50051", caller)
    service_key = client.pin_service_key(expected)      # or pass a key pinned out of band
    for item in client.fetch("P-1", "TREAT", recipient_key=x25519_private, service_key=service_key):
        ...
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from consentry.services.share import SharePackage, open_share
from consentry.services.tokens import METADATA_KEY, Caller
from consentry.v1 import audit_pb2_grpc, consent_pb2_grpc, exchange_pb2, exchange_pb2_grpc, registry_pb2_grpc


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    pass


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` bound to the method being called."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        metadata = [*(details.metadata or ()), (METADATA_KEY, "Bearer " + self._caller.token(method))]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_token(details), request)


@dataclass(frozen=True)
class FetchedRecord:
    """One fetch outcome. `body` is the decrypted record (None when withheld)."""

    record_id: str
    category: str
    ledger_seq: int
    body: bytes | None = None
    header: dict = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    erased: bool = False

    @property
    def shared(self) -> bool:
        return self.body is not None

    def resource(self) -> dict:
        if self.body is None:
            raise ValueError("this record was withheld")
        return json.loads(self.body)


class Client:
    def __init__(self, target: str, caller: Caller, *, timeout_s: float = 30.0) -> None:
        self.caller = caller
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(target)
        channel = grpc.intercept_channel(self._channel, _TokenInterceptor(caller))
        self.registry = registry_pb2_grpc.RegistryServiceStub(channel)
        self.consent = consent_pb2_grpc.ConsentServiceStub(channel)
        self.exchange = exchange_pb2_grpc.ExchangeServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch(
        self,
        patient_id: str,
        purpose: str,
        *,
        recipient_key: PrivateKey,
        service_key: VerifyKey,
        categories: tuple[str, ...] = (),
        record_ids: tuple[str, ...] = (),
        emergency_justification: str = "",
    ) -> Iterator[FetchedRecord]:
        """Fetches and opens records; a package that fails verification raises, never yields."""
        request = exchange_pb2.FetchRecordsRequest(
            patient_id=patient_id, purpose=purpose, categories=categories, record_ids=record_ids,
            emergency=exchange_pb2.Emergency(declared=bool(emergency_justification),
                                             justification=emergency_justification),
        )
        recipient = self.caller.principal.split(":", 1)[1]
        for item in self.exchange.FetchRecords(request, timeout=self.timeout_s):
            if item.HasField("withheld"):
                w = item.withheld
                yield FetchedRecord(w.record_id, w.category, item.ledger_seq, reasons=tuple(w.reasons), erased=w.erased)
                continue
            p = item.shared.package
            opened = open_share(
                SharePackage(header=p.header, ciphertext=p.ciphertext, sealed_key=p.sealed_key, signature=p.signature),
                service_verify_key=service_key, recipient_private_key=recipient_key, expected_recipient=recipient,
            )
            if opened.header["ledger_seq"] != item.ledger_seq or opened.header["record_id"] != item.shared.record.record_id:
                raise ValueError("the signed header does not match the response it came in")
            yield FetchedRecord(item.shared.record.record_id, item.shared.record.category, item.ledger_seq,
                                body=opened.body, header=opened.header)
