"""Client SDK: signs a fresh token for every call, and verifies and opens shared records.

    caller = Caller("org:familydoc", signing_key, role="physician", practitioner="dr-lee")
    client = Client("127.0.0.1:50051", caller)
    service_key = client.pin_service_key(expected)      # or pass a key pinned out of band
    for item in client.fetch("P-1", "TREAT", recipient_key=x25519_private, service_key=service_key):
        ...

    # Optionally prove each disclosure is in the audit ledger, under a signed checkpoint:
    client.fetch(..., prove=True, ledger_key=ledger_verifier_key)   # or, later:
    proof = client.verify_disclosure(item, ledger_verifier_key)
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import NoteVerifier, verify_checkpoint
from consentry.ledger.errors import LedgerError
from consentry.ledger.hashing import leaf_hash
from consentry.ledger.merkle import verify_inclusion
from consentry.services import config
from consentry.services.config import channel_options
from consentry.services.crypto.share import SharePackage, open_share
from consentry.services.identity.tokens import METADATA_KEY, Caller
from consentry.v1 import audit_pb2, audit_pb2_grpc, consent_pb2_grpc, exchange_pb2, exchange_pb2_grpc, registry_pb2_grpc


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    pass


# What grpc hands an interceptor: the call itself, taking call details and the request message.
_Continuation = Callable[[grpc.ClientCallDetails, Any], Any]


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` bound to the method being called."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        metadata = [*(details.metadata or ()), (METADATA_KEY, "Bearer " + self._caller.token(method))]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation: _Continuation, details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: _Continuation, details: grpc.ClientCallDetails,
                               request: Any) -> Any:
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
    # What a disclosure proof needs: the ledger entry's exact bytes and the package as received.
    ledger_entry: bytes = field(default=b"", repr=False)
    package: SharePackage | None = field(default=None, repr=False)
    proof: DisclosureProof | None = None  # set by fetch(prove=True)

    @property
    def shared(self) -> bool:
        return self.body is not None

    def resource(self) -> dict:
        if self.body is None:
            raise ValueError("this record was withheld")
        return json.loads(self.body)


class DisclosureNotProven(Exception):
    """The ledger entry, its inclusion proof or the checkpoint did not check out (or none exists yet)."""


@dataclass(frozen=True)
class DisclosureProof:
    """A disclosure (or withholding) shown to be entry ``seq`` of a signed checkpoint's tree."""

    seq: int
    entry: dict
    checkpoint_note: str
    tree_size: int
    root_hash: bytes


def check_disclosure_entry(item: FetchedRecord, actor: str) -> dict:
    """Checks that ``item.ledger_entry`` is the ledger's record of exactly this fetch outcome.

    For a shared record the entry must name the SHA-256 of the very header and ciphertext we
    received, so the package, the entry and (via the proof) the checkpoint are bound together.
    """
    raw = bytes(item.ledger_entry)
    if not raw:
        raise DisclosureNotProven("the response carried no ledger entry")
    try:
        entry = json.loads(raw)
        canonical = isinstance(entry, dict) and canonical_json(entry) == raw
    except (ValueError, LedgerError):
        canonical = False
    if not canonical:
        raise DisclosureNotProven("the ledger entry is not canonical JSON")
    expected = {"seq": item.ledger_seq, "kind": "access.decision", "actor": actor, "record": item.record_id,
                "allowed": item.shared}
    for name, value in expected.items():
        if entry.get(name) != value or type(entry.get(name)) is not type(value):
            raise DisclosureNotProven(f"the ledger entry's {name!r} does not match this fetch")
    if item.shared:
        if item.package is None:
            raise DisclosureNotProven("the share package was not kept; fetch again")
        hashes = {"header_hash": hashlib.sha256(item.package.header).hexdigest(),
                  "ciphertext_hash": hashlib.sha256(item.package.ciphertext).hexdigest(),
                  "purpose": item.header.get("purpose"), "recipient_key": item.header.get("recipient_key_id")}
        for name, value in hashes.items():
            if entry.get(name) != value:
                raise DisclosureNotProven(f"the ledger entry's {name!r} does not match the package")
    return entry


class Client:
    def __init__(self, target: str, caller: Caller, *, timeout_s: float = 30.0,
                 root_certificates: bytes | None = None, max_body_bytes: int | None = None) -> None:
        """`root_certificates` (PEM) makes the channel TLS, trusting that CA; None is plaintext.
        `max_body_bytes` is the largest record body the channel carries either way: the server's
        setting, by default $CONSENTRY_MAX_BODY_BYTES or its default (docs/limits.md)."""
        self.caller = caller
        self.timeout_s = timeout_s
        options = channel_options(max_body_bytes or config.max_body_bytes())
        self._channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates), options)
                         if root_certificates is not None else grpc.insecure_channel(target, options))
        channel = grpc.intercept_channel(self._channel, _TokenInterceptor(caller))
        self.registry = registry_pb2_grpc.RegistryServiceStub(channel)
        self.consent = consent_pb2_grpc.ConsentServiceStub(channel)
        self.exchange = exchange_pb2_grpc.ExchangeServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
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
        prove: bool = False,
        ledger_key: str | None = None,
        ledger_origin: str | None = None,
    ) -> Iterator[FetchedRecord]:
        """Fetches and opens records; a package that fails verification raises, never yields.

        With ``prove=True`` every outcome is also checked against the audit ledger (see
        ``verify_disclosure``) before it is yielded, and carries the proof in ``.proof``.
        """
        if prove and not ledger_key:
            raise ValueError("prove=True needs ledger_key, the ledger's verifier key pinned out of band")
        request = exchange_pb2.FetchRecordsRequest(
            patient_id=patient_id, purpose=purpose, categories=categories, record_ids=record_ids,
            emergency=exchange_pb2.Emergency(declared=bool(emergency_justification),
                                             justification=emergency_justification),
        )
        recipient = self.caller.principal.split(":", 1)[1]
        stream = (self._open(item, recipient, recipient_key, service_key)
                  for item in self.exchange.FetchRecords(request, timeout=self.timeout_s))
        if not prove:
            yield from stream
            return
        # Read the whole stream first: every entry was committed before the first response left,
        # so one checkpoint (refreshed at most once) covers them all.
        assert ledger_key  # checked on entry, before the request was sent
        fetched = list(stream)
        checkpoint = None
        for item in fetched:
            proof = self.verify_disclosure(item, ledger_key, origin=ledger_origin, _checkpoint=checkpoint)
            checkpoint = (proof.checkpoint_note, proof.tree_size, proof.root_hash)
            yield dataclasses.replace(item, proof=proof)

    @staticmethod
    def _open(item: exchange_pb2.FetchRecordsResponse, recipient: str, recipient_key: PrivateKey,
              service_key: VerifyKey) -> FetchedRecord:
        if item.HasField("withheld"):
            w = item.withheld
            return FetchedRecord(w.record_id, w.category, item.ledger_seq, reasons=tuple(w.reasons), erased=w.erased,
                                 ledger_entry=item.ledger_entry)
        p = item.shared.package
        package = SharePackage(header=p.header, ciphertext=p.ciphertext, sealed_key=p.sealed_key, signature=p.signature)
        opened = open_share(package, service_verify_key=service_key, recipient_private_key=recipient_key,
                            expected_recipient=recipient)
        if opened.header["ledger_seq"] != item.ledger_seq or opened.header["record_id"] != item.shared.record.record_id:
            raise ValueError("the signed header does not match the response it came in")
        return FetchedRecord(item.shared.record.record_id, item.shared.record.category, item.ledger_seq,
                             body=opened.body, header=opened.header, ledger_entry=item.ledger_entry, package=package)

    def verify_disclosure(self, item: FetchedRecord, ledger_key: str, *, origin: str | None = None,
                          _checkpoint: tuple[str, int, bytes] | None = None) -> DisclosureProof:
        """Proves ``item`` (from ``fetch``) is recorded in the audit ledger, or raises DisclosureNotProven.

        1. The entry that came with the response is canonical, is *this* fetch outcome (seq,
           actor, record, allowed) and, for a shared record, names SHA-256 of the header and
           ciphertext we hold.
        2. A checkpoint signed by ``ledger_key`` (pinned out of band; ``origin`` optionally
           pinned too) covers the entry: the latest stored one, or else a fresh one we ask for
           (institutions may ask; the service signs only when the ledger grew).
        3. The inclusion proof from the service takes SHA-256(0x00 || entry), computed here from
           the entry bytes, to the checkpoint's root. The server's leaf hash is not trusted.
        """
        entry = check_disclosure_entry(item, self.caller.principal)
        try:
            verifier = NoteVerifier.from_key(ledger_key)
            note, size, root = _checkpoint if _checkpoint and _checkpoint[1] > item.ledger_seq else (None, 0, b"")
            if note is None:
                note, size, root = self._checkpoint_covering(item.ledger_seq, verifier, origin)
            proof = self.audit.GetInclusionProof(
                audit_pb2.GetInclusionProofRequest(seq=item.ledger_seq, tree_size=size), timeout=self.timeout_s)
            if proof.seq != item.ledger_seq or proof.tree_size != size:
                raise DisclosureNotProven("the inclusion proof is for another entry or tree size")
            verify_inclusion(leaf_hash(bytes(item.ledger_entry)), item.ledger_seq, size, list(proof.hashes), root)
        except LedgerError as exc:
            raise DisclosureNotProven(f"ledger check failed: {exc}") from exc
        return DisclosureProof(item.ledger_seq, entry, note, size, root)

    def _checkpoint_covering(self, seq: int, verifier: NoteVerifier, origin: str | None) -> tuple[str, int, bytes]:
        for refresh in (False, True):
            try:
                request = audit_pb2.GetCheckpointRequest(refresh=refresh)
                reply = self.audit.GetCheckpoint(request, timeout=self.timeout_s)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and not refresh:
                    continue  # no checkpoint at all yet
                raise
            # Trust only what the signed note says, never the response's convenience fields.
            checkpoint = verify_checkpoint(reply.checkpoint.note, verifier, origin)
            if checkpoint.size > seq:
                return reply.checkpoint.note, checkpoint.size, checkpoint.root
        raise DisclosureNotProven(f"no signed checkpoint covers ledger entry {seq} yet; try again later")
