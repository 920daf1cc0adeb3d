"""Client SDK: signs a fresh token for every call, and verifies and opens shared records.

    caller = Caller("org:familydoc", signing_key, role="physician", practitioner="dr-lee")
    client = Client("127.0.0.1:50051", caller)
    service_key = client.pin_service_key(expected)      # or pass a key pinned out of band
    # After a rotation the pinned key still works: the client follows the rotation statements
    # from it to the current key (docs/share-format.md, "Key rotation").
    for item in client.fetch("P-1", "TREAT", recipient_key=x25519_private, service_key=service_key):
        ...   # each package checked first: signature, recipient, purpose, patient, nonce, time, share id
    # Research names a research consent's subject id (Consent.subject_id), never the patient:
    client.fetch("", "HRESCH", subject_id=consent.subject_id, recipient_key=..., service_key=...)

    # Optionally prove each disclosure is in the audit ledger, under a signed checkpoint:
    client.fetch(..., prove=True, ledger_key=ledger_verifier_key)   # or, later:
    proof = client.verify_disclosure(item, ledger_verifier_key)

Every checkpoint the client is shown must extend the last one it trusted (a consistency proof is
asked for), or ForkError / RollbackError is raised naming both: a ledger cannot show this client
a history other than the one it showed before. The trusted checkpoint is kept in memory, or in
a file that outlives the process with `Client(..., trusted_checkpoint="path/to/file.note")`.

Every call has a deadline: its own `timeout=`, else the client's `timeout_s` (default 30 s), but a
watch (watch_access, watch_consent_changes) has none. A read, or a write carrying an
`idempotency_key`, that fails UNAVAILABLE is retried with a fresh token after a jittered,
growing pause (`retry=RetryPolicy(attempts=4)`), within that deadline; a write without a key
never is (call_policy.py; docs/operations.md, "Clients: deadlines and retries"):

    client = Client(target, caller, timeout_s=10, retry=RetryPolicy(attempts=6), idempotency_keys=True)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from consentry.ledger import CheckpointTrust, ConsistencyError, FileTrustStore, MemoryTrustStore, TrustStore
from consentry.ledger.checkpoint import NoteVerifier, verify_checkpoint
from consentry.ledger.entries import entry_leaf_hash
from consentry.ledger.errors import LedgerError
from consentry.ledger.merkle import verify_inclusion
from consentry.services import config
from consentry.services.config import channel_options
from consentry.services.crypto import export_seal
from consentry.services.crypto.errors import KeyRevoked, SignatureInvalid
from consentry.services.crypto.key_chain import SHARE_SIGNING, Endorsement, KeyChain, parse_instant
from consentry.services.crypto.share import DEFAULT_TIME_WINDOW, ServiceKeys
from consentry.services.identity.tokens import METADATA_KEY, Caller
from consentry.services.sdk import consent_receipts
from consentry.services.sdk.call_policy import CallPolicy, Continuation, RetryPolicy, changed
from consentry.services.sdk.entries import canonical_entry
from consentry.services.sdk.fetched import Asked, DisclosureProof, FetchedRecord, Recipient, open_response
from consentry.services.sdk.paging import pages
from consentry.services.sdk.seen_shares import MemorySeenShares, SeenShares
from consentry.services.sdk.watches import Watch
from consentry.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    exchange_pb2,
    exchange_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    rights_pb2,
    rights_pb2_grpc,
)


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` bound to the method being called and to the request's
    bytes as grpc sends them (the stubs serialize with `SerializeToString`, as here)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _with_token(self, details: grpc.ClientCallDetails, request: Message) -> grpc.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        token = self._caller.token(method, request.SerializeToString())
        metadata = [*(details.metadata or ()), (METADATA_KEY, "Bearer " + token)]
        return changed(details, metadata=metadata)

    def intercept_unary_unary(self, continuation: Continuation, details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        return continuation(self._with_token(details, request), request)

    def intercept_unary_stream(self, continuation: Continuation, details: grpc.ClientCallDetails,
                               request: Any) -> Any:
        return continuation(self._with_token(details, request), request)


@dataclasses.dataclass(frozen=True)
class ExportedPage:
    """One opened page of a patient's export: its signed header and its FHIR Bundle."""

    header: dict
    bundle: dict
    request_id: str
    ledger_seq: int


class DisclosureNotProven(Exception):
    """The ledger entry, its inclusion proof or the checkpoint did not check out (or none exists yet)."""


def check_disclosure_entry(item: FetchedRecord, actor: str) -> dict:
    """Checks that ``item.ledger_entry`` is the ledger's record of exactly this fetch outcome.

    For a shared record the entry must name the SHA-256 of the very header and ciphertext we
    received, so the package, the entry and (via the proof) the checkpoint are bound together.
    """
    raw = bytes(item.ledger_entry)
    if not raw:
        raise DisclosureNotProven("the response carried no ledger entry")
    entry = canonical_entry(raw)
    if entry is None:
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


FETCH_NONCE_BYTES = 32
# How long a client trusts the service's key list before asking again: the most a revocation
# takes to reach a long-lived client (a signature the list does not verify asks at once).
SERVICE_KEYS_TTL_S = 60.0
# The deadline of a call given none (not of a watch).
DEFAULT_TIMEOUT_S = 30.0
_T = TypeVar("_T")
# The consent changes whose responses carry a signed receipt (docs/receipts.md).
RECEIPTED_CHANGES = ("GrantConsent", "ImportConsent", "ApproveAccessRequest", "NarrowConsent", "RevokeConsent")


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Client:
    def __init__(self, target: str, caller: Caller, *, timeout_s: float | None = DEFAULT_TIMEOUT_S,
                 retry: RetryPolicy | None = None, idempotency_keys: bool = False,
                 root_certificates: bytes | None = None, certificate_chain: bytes | None = None,
                 private_key: bytes | None = None, time_window: timedelta = DEFAULT_TIME_WINDOW,
                 seen_shares: SeenShares | None = None, clock: Callable[[], datetime] = _system_clock,
                 trusted_checkpoint: str | os.PathLike[str] | TrustStore | None = None,
                 max_body_bytes: int | None = None, keepalive_s: float | None = None,
                 keepalive_timeout_s: float = config.KEEPALIVE_TIMEOUT_S) -> None:
        """`root_certificates` (PEM) makes the channel TLS, trusting that CA; None is plaintext.

        For a mutual-TLS server, `certificate_chain` and `private_key` (PEM) are the client
        certificate (for an institution: its leaf signed by its identity key, then its identity
        certificate; docs/transport.md) and the leaf's key; without `root_certificates` the
        channel then trusts the system's CAs.

        A shared record is accepted only if its issue time is within `time_window` of `clock()`
        (aware UTC datetimes) and its share id is new to `seen_shares` (by default an in-memory
        set of this client's; see seen_shares.py for one that survives a restart).

        `trusted_checkpoint`: where the last trusted ledger checkpoint is kept (a file path or a
        TrustStore; default: in memory, for this client's life).

        `max_body_bytes` is the largest record body the channel carries either way: the server's
        setting, by default $CONSENTRY_MAX_BODY_BYTES or its default (docs/limits.md).

        `keepalive_s`: while a call is open (a long watch), the channel pings the server this often
        and gives up on the connection when an answer takes over `keepalive_timeout_s`; 0: no
        pings. By default $CONSENTRY_CLIENT_KEEPALIVE_S or 30 s. Keep it at or above the server's
        CONSENTRY_KEEPALIVE_MIN_PING_INTERVAL_S (default 10 s), or the server ends the connection
        with GOAWAY too_many_pings (docs/operations.md, "Transport settings").


        Deadlines and retries (call_policy.py; docs/operations.md, "Clients: deadlines and
        retries"): a call given no `timeout=` gets `timeout_s` (None: no deadline), except the
        Watch* streams, which stay open until cancelled. A read, or a write whose request carries
        an `idempotency_key`, that fails UNAVAILABLE is made again with a fresh token after an
        exponential, jittered pause, as `retry` says (default RetryPolicy(): 4 attempts in all;
        RetryPolicy(attempts=1) never retries), within the call's deadline; a write without a
        key is never retried. With `idempotency_keys=True` every write sent without a key gets a
        fresh random one, so it is retried too."""
        self.caller = caller
        self.timeout_s = timeout_s
        self.time_window = time_window
        self.seen_shares: SeenShares = seen_shares if seen_shares is not None else MemorySeenShares()
        self.clock = clock
        self.trusted_checkpoint = _trust_store(trusted_checkpoint)
        self._service_keys: dict[bytes, tuple[float, KeyChain]] = {}
        keepalive = config.client_keepalive_s() if keepalive_s is None else keepalive_s
        options = [*channel_options(max_body_bytes or config.max_body_bytes()),
                   *config.client_keepalive_options(keepalive, keepalive_timeout_s)]
        self._channel = _channel(target, root_certificates, certificate_chain, private_key, options)
        # The policy is outside the signer: every attempt of a retried call carries a fresh token.
        policy = CallPolicy(timeout_s, retry or RetryPolicy(), idempotency_keys)
        channel = grpc.intercept_channel(self._channel, policy, _TokenInterceptor(caller))
        self.registry = registry_pb2_grpc.RegistryServiceStub(channel)
        self.consent = consent_pb2_grpc.ConsentServiceStub(channel)
        self.exchange = exchange_pb2_grpc.ExchangeServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)
        self.rights = rights_pb2_grpc.RightsServiceStub(channel)

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
        service_key: ServiceKeys,
        categories: tuple[str, ...] = (),
        record_ids: tuple[str, ...] = (),
        emergency_justification: str = "",
        prove: bool = False,
        ledger_key: str | None = None,
        ledger_origin: str | None = None,
        subject_id: str = "",
    ) -> Iterator[FetchedRecord]:
        """Fetches and opens records; a package that fails a check raises, and nothing of it is yielded.

        Each fetch sends a fresh random nonce. A shared record is yielded only if its package
        verifies under `service_key` (the key pinned out of band, or a key its rotation statements
        hand over to, not revoked before the package's time: ``service_keys``), is addressed to
        this institution and `recipient_key`, and answers this fetch: `purpose`, `patient_id`, the
        nonce, an issue time within the client's window, a share id not seen before (errors:
        consentry.services.crypto.errors; a ``NotThisFetch`` means the package answered something
        else: moved, replayed or stale).

        For research (HRESCH) pass ``patient_id=""`` and the research consent's ``subject_id``.

        With ``prove=True`` every outcome is also checked against the audit ledger (see
        ``verify_disclosure``) before it is yielded, and carries the proof in ``.proof``.
        """
        if prove and not ledger_key:
            raise ValueError("prove=True needs ledger_key, the ledger's verifier key pinned out of band")
        nonce = secrets.token_bytes(FETCH_NONCE_BYTES)
        request = exchange_pb2.FetchRecordsRequest(
            patient_id=patient_id, subject_id=subject_id, purpose=purpose, categories=categories,
            record_ids=record_ids, emergency=exchange_pb2.Emergency(declared=bool(emergency_justification),
                                             justification=emergency_justification),
            nonce=nonce,
        )
        asked = Asked(purpose, subject_id or patient_id, nonce, tuple(categories), tuple(record_ids), self.clock,
                      self.time_window)
        def opened(item: exchange_pb2.FetchRecordsResponse) -> FetchedRecord:
            return self._with_service_keys(service_key, lambda keys: open_response(
                item, asked, self._recipient(recipient_key, keys)))

        stream = (opened(item) for item in self.exchange.FetchRecords(request, timeout=self.timeout_s))
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

    def _recipient(self, key: PrivateKey, service_keys: KeyChain) -> Recipient:
        """This institution as share headers name it: its registered id, without "org:"."""
        return Recipient(self.caller.principal.split(":", 1)[1], key, service_keys, self.seen_shares)

    def service_keys(self, pinned: VerifyKey | bytes, *, refresh: bool = False) -> KeyChain:
        """The share-signing keys to trust, from the key pinned out of band: it, then each key a
        rotation statement (GetServiceKeys) verified under the key before hands over to, with the
        revocations the service lists (docs/share-format.md, "Key rotation"). Kept for
        SERVICE_KEYS_TTL_S; raises SignatureInvalid when a statement naming a key of the chain
        does not verify (a forged endorsement)."""
        pinned = bytes(pinned)
        kept = self._service_keys.get(pinned)
        if kept is not None and not refresh and time.monotonic() - kept[0] < SERVICE_KEYS_TTL_S:
            return kept[1]
        reply = self.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest(), timeout=self.timeout_s)
        chain = service_key_chain(pinned, reply)
        self._service_keys[pinned] = (time.monotonic(), chain)
        return chain

    def _with_service_keys(self, service_key: ServiceKeys, check: Callable[[KeyChain], _T]) -> _T:
        """`check` under the chain followed from a pinned key (or under the chain given); a
        signature that the known chain does not verify asks the service again once, since the
        key may have rotated since the chain was read."""
        if isinstance(service_key, KeyChain):
            return check(service_key)
        try:
            return check(self.service_keys(service_key))
        except (SignatureInvalid, consent_receipts.ReceiptInvalid, export_seal.DecryptionFailed) as exc:
            if isinstance(exc, KeyRevoked):
                raise
            return check(self.service_keys(service_key, refresh=True))

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
        return self.prove_entry(item.ledger_seq, item.ledger_entry, ledger_key, origin=origin,
                                _checkpoint=_checkpoint, _entry=entry)

    def prove_entry(self, seq: int, raw_entry: bytes, ledger_key: str, *, origin: str | None = None,
                    _checkpoint: tuple[str, int, bytes] | None = None, _entry: dict | None = None) -> DisclosureProof:
        """Proves that ``raw_entry`` is ledger entry ``seq`` under a checkpoint signed by
        ``ledger_key`` (steps 2 and 3 of ``verify_disclosure``), e.g. a consent change's entry
        from its evidence; raises DisclosureNotProven."""
        try:
            verifier = NoteVerifier.from_key(ledger_key)
            note, size, root = _checkpoint if _checkpoint and _checkpoint[1] > seq else (None, 0, b"")
            if note is None:
                note, size, root = self._checkpoint_covering(seq, verifier, origin)
            proof = self.audit.GetInclusionProof(
                audit_pb2.GetInclusionProofRequest(seq=seq, tree_size=size), timeout=self.timeout_s)
            if proof.seq != seq or proof.tree_size != size:
                raise DisclosureNotProven("the inclusion proof is for another entry or tree size")
            verify_inclusion(entry_leaf_hash(bytes(raw_entry)), seq, size, list(proof.hashes), root)
            entry = _entry if _entry is not None else json.loads(raw_entry)
        except ConsistencyError:
            raise  # a split view or a rollback: evidence against the ledger, not a missing proof
        except (LedgerError, ValueError) as exc:
            raise DisclosureNotProven(f"ledger check failed: {exc}") from exc
        return DisclosureProof(seq, entry, note, size, root)

    def change_consent(self, method: str, request: Message, service_key: ServiceKeys) -> tuple[Message, dict]:
        """Calls a consent change (GrantConsent, ImportConsent, ApproveAccessRequest, NarrowConsent,
        RevokeConsent) and returns the response with its receipt's statement, once the receipt
        verifies under `service_key` and states the version returned; raises ReceiptInvalid."""
        if method not in RECEIPTED_CHANGES:
            raise ValueError(f"{method} is not a consent change with a receipt")
        response = getattr(self.consent, method)(request, timeout=self.timeout_s)
        return response, self._with_service_keys(service_key, lambda keys: consent_receipts.receipt_of(response, keys))

    def consent_receipts(self, consent_id: str,
                         service_key: ServiceKeys) -> list[tuple[consent_pb2.ConsentReceipt, dict]]:
        """Every receipt of the consent's changes, oldest first, each verified (ReceiptInvalid)."""
        found: list[tuple[consent_pb2.ConsentReceipt, dict]] = []
        for page in pages(self.consent.ListConsentReceipts, lambda token: consent_pb2.ListConsentReceiptsRequest(
                consent_id=consent_id, page_token=token), timeout=self.timeout_s):
            for receipt in page.receipts:
                statement = self._with_service_keys(
                    service_key, functools.partial(_verify_receipt, receipt))
                if statement["consent_id"] != consent_id:
                    raise consent_receipts.ReceiptInvalid("a receipt listed states another consent")
                found.append((receipt, statement))
        return found

    def prove_receipt(self, statement: dict, ledger_key: str, *, origin: str | None = None) -> None:
        """Proves the receipt's ledger position (seq and leaf hash) under a checkpoint signed by
        `ledger_key` that extends the last one this client trusted; raises ReceiptInvalid."""
        seq = statement["ledger"]["seq"]
        try:
            _, size, root = self._checkpoint_covering(seq, NoteVerifier.from_key(ledger_key), origin)
            proof = self.audit.GetInclusionProof(
                audit_pb2.GetInclusionProofRequest(seq=seq, tree_size=size), timeout=self.timeout_s)
        except (LedgerError, ValueError, DisclosureNotProven) as exc:
            raise consent_receipts.ReceiptInvalid(f"the receipt's ledger position is not proven: {exc}") from exc
        consent_receipts.check_receipt_in_ledger(statement, proof, root)

    def consent_evidence(self, consent_id: str, version: int = 0) -> list[consent_pb2.ConsentEvidence]:
        """What the patient (or a proxy) signed to make and change the consent (one version's, if
        ``version``), oldest first; check each with ``consent_evidence.verify_consent_evidence``."""
        return [item for page in pages(self.consent.GetConsentEvidence, lambda token: (
            consent_pb2.GetConsentEvidenceRequest(consent_id=consent_id, version=version, page_token=token)),
            timeout=self.timeout_s) for item in page.evidence]

    def export_records(self, patient_id: str, service_key: ServiceKeys) -> list[ExportedPage]:
        """A copy of the patient's records, every page opened with this client's own signing key
        (the patient's, or their representative's) once the service's signature checks out
        (docs/rights.md, "Export"). Each page is a FHIR R4 Bundle of type collection."""
        opened: list[ExportedPage] = []
        for reply in pages(self.rights.ExportRecords, lambda token: rights_pb2.ExportRecordsRequest(
                patient_id=patient_id, page_token=token), timeout=self.timeout_s):
            sealed = export_seal.SealedExport(reply.export.header, reply.export.ciphertext,
                                              reply.export.sealed_key, reply.export.signature)
            header, bundle = self._with_service_keys(
                service_key, functools.partial(export_seal.open_export, sealed, self._identity_in_memory()))
            if header["records"] != reply.record_count or len(bundle.get("entry", [])) != reply.record_count:
                raise export_seal.MalformedPackage("the export's record count does not match its header")
            opened.append(ExportedPage(header, bundle, reply.request.request_id, reply.ledger_seq))
        return opened

    def change_evidence(self, authorization: str) -> consent_pb2.ConsentEvidence:
        """The evidence of the one signed change whose ledger entry carries ``authorization``."""
        reply = self.consent.GetConsentEvidence(consent_pb2.GetConsentEvidenceRequest(authorization=authorization),
                                                timeout=self.timeout_s)
        return reply.evidence[0]

    def put_observation(self, patient_id: str, fhir_json: bytes | str,
                        idempotency_key: str = "") -> exchange_pb2.PutObservationResponse:
        """Deposits a home reading (a FHIR Observation; sdk/readings.py builds one) for the
        patient, as the patient or a proxy with the report-readings scope (docs/readings.md)."""
        body = fhir_json.encode() if isinstance(fhir_json, str) else fhir_json
        return self.exchange.PutObservation(exchange_pb2.PutObservationRequest(
            patient_id=patient_id, fhir_json=body, idempotency_key=idempotency_key), timeout=self.timeout_s)

    def notices(self, patient_id: str, *, unread_only: bool = False) -> list[consent_pb2.PatientNotice]:
        """Every notice queued for the patient (only those not yet marked read, with
        ``unread_only``), oldest first; each names its kind and the id of what it is about."""
        return [notice for page in pages(self.consent.ListNotices, lambda token: consent_pb2.ListNoticesRequest(
            patient_id=patient_id, unread_only=unread_only, page_token=token), timeout=self.timeout_s)
            for notice in page.notices]

    def watch_access(self, patient_id: str, after_seq: int = 0) -> Watch[consent_pb2.WatchAccessResponse]:
        """The patient's access events and notices as they commit, and heartbeats (a response
        holds one of `access`, `notice`, `heartbeat`). With `after_seq` (the last ledger_seq
        seen), the events after it come first, so a client reconnects without a gap."""
        return Watch(self.consent.WatchAccess(consent_pb2.WatchAccessRequest(patient_id=patient_id,
                                                                             after_seq=after_seq)))

    def watch_consent_changes(self, after_seq: int = 0) -> Watch[consent_pb2.WatchConsentChangesResponse]:
        """An institution's decided access requests and consent changes as they commit, and
        heartbeats (a response holds `change` or `heartbeat`); `after_seq` as for watch_access."""
        return Watch(self.consent.WatchConsentChanges(consent_pb2.WatchConsentChangesRequest(after_seq=after_seq)))

    def mark_notices_read(self, patient_id: str, notice_ids: list[str]) -> list[consent_pb2.PatientNotice]:
        """Marks the patient's notices read; returns them as they now stand."""
        reply = self.consent.MarkNoticesRead(consent_pb2.MarkNoticesReadRequest(
            patient_id=patient_id, notice_ids=notice_ids), timeout=self.timeout_s)
        return list(reply.notices)

    def _identity_in_memory(self) -> SigningKey:
        """An export is sealed to the patient's identity key itself, so only a key this process
        holds opens it (a patient's or representative's key, never one in a hardware token)."""
        key = self.caller.signing_key
        if not isinstance(key, SigningKey):
            raise export_seal.DecryptionFailed("an export opens only with a signing key held in memory")
        return key

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
            self.check_checkpoint(reply.checkpoint.note, verifier, origin)
            if checkpoint.size > seq:
                return reply.checkpoint.note, checkpoint.size, checkpoint.root
        raise DisclosureNotProven(f"no signed checkpoint covers ledger entry {seq} yet; try again later")

    def check_checkpoint(self, note: str, verifier: NoteVerifier, origin: str | None = None) -> None:
        """Checks a checkpoint shown to us extends the last one we trusted, then trusts it.

        Raises ForkError or RollbackError (naming both sizes and roots) on a split view."""
        def prove(old_size: int, new_size: int) -> list[bytes]:
            request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size)
            return list(self.audit.GetConsistencyProof(request, timeout=self.timeout_s).hashes)
        CheckpointTrust(verifier, self.trusted_checkpoint, origin).advance(note, prove)


def _verify_receipt(receipt: consent_pb2.ConsentReceipt, keys: KeyChain) -> dict:
    return consent_receipts.verify_consent_receipt(receipt, keys)


def service_key_chain(pinned: VerifyKey | bytes, reply: registry_pb2.GetServiceKeysResponse) -> KeyChain:
    """The chain from `pinned` through the share-signing keys a GetServiceKeys reply lists."""
    listed = [k for k in reply.share_signing_keys if k.purpose == SHARE_SIGNING]
    endorsements = [Endorsement(k.statement, k.old_signature, k.new_signature) for k in listed if k.statement]
    revoked = {bytes(k.public_key): parse_instant(k.revoked_from) for k in listed if k.revoked_from}
    return KeyChain.follow(pinned, endorsements, revoked)


def _trust_store(where: str | os.PathLike[str] | TrustStore | None) -> TrustStore:
    if where is None:
        return MemoryTrustStore()
    if isinstance(where, (str, os.PathLike)):
        return FileTrustStore(os.fspath(where))
    return where


def _channel(target: str, root_certificates: bytes | None, certificate_chain: bytes | None,
             private_key: bytes | None, options: list[tuple[str, int]]) -> grpc.Channel:
    """Plaintext, TLS or mutual TLS, from what the caller gave."""
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("a client certificate needs both certificate_chain and private_key")
    if root_certificates is None and certificate_chain is None:
        return grpc.insecure_channel(target, options)
    credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    return grpc.secure_channel(target, credentials, options)
