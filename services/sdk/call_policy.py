"""How the client makes a call: a deadline on every call that ends, and retries of the calls a
second attempt cannot change anything by.

A call the caller gave no timeout gets the client's (`Client(timeout_s=...)`), except the live
streams (Watch*), which are meant to stay open. A unary call that fails UNAVAILABLE (the server
unreachable, draining, or a dependency of it down: nothing was changed) is made again after an
exponential, jittered pause, at most `RetryPolicy.attempts` times in all and never past the
call's deadline, if it is

- a read (READS: it changes nothing but the ledger's record that it was read, so a lost answer
  retried is a second read on the record, as it was), or
- a write whose request carries an `idempotency_key`: the server answers a repeat with the first
  response and writes once.

A write without a key, a stream, and any other failure are never retried. The server spends each
call token once (identity/token_uses.py), so the retry must not resend the token: this
interceptor sits outside the one that signs, and each attempt is signed afresh.
"""

from __future__ import annotations

import collections
import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

# The unary methods that change nothing: what they write is the ledger's record of the read and
# the spent token. Not here, though they read: ExportRecords (files a rights request) and
# RedeemEnrolmentCode (enrols). tests/services/sdk/test_call_policy.py checks every unary method
# is a read here or a write with an idempotency_key field, or named as neither.
READS = frozenset({
    "GetCheckpoint", "ListEntries", "GetInclusionProof", "GetConsistencyProof", "ExportAuditEvents",
    "ListEmergencyAccesses",
    "GetAccessRequest", "ListAccessRequests", "GetConsent", "ListConsents", "ListProxies", "GetAccessHistory",
    "ExportConsent", "GetConsentEvidence", "ListNotices", "GetEmergencyAccess", "ListConsentReceipts",
    "PreviewConsent",
    "ListRecords",
    "GetInstitution", "ListInstitutions", "ListPractitioners", "GetServiceKeys", "GetPrivacyNotice",
    "ListRightsRequests", "ListRecipientNotices", "ListRepresentatives",
})
# Writes with no idempotency key in their request: never retried.
UNKEYED_WRITES = frozenset({"ExportRecords", "RedeemEnrolmentCode"})
WATCH_PREFIX = "Watch"
_JITTER = secrets.SystemRandom()
IDEMPOTENCY_FIELD = "idempotency_key"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """`attempts` in all (1: never retry); before attempt n+1 a pause drawn from the upper half of
    min(max_pause_s, first_pause_s * 2**(n-1)), so clients that failed together do not return together."""

    attempts: int = 4
    first_pause_s: float = 0.25
    max_pause_s: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a call needs at least one attempt")

    def pause_s(self, failed: int) -> float:
        ceiling = min(self.max_pause_s, self.first_pause_s * 2 ** (failed - 1))
        return _JITTER.uniform(ceiling / 2, ceiling)


class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    pass


def changed(details: grpc.ClientCallDetails, **changes: Any) -> grpc.ClientCallDetails:
    """`details` with some of its fields replaced (grpc's own are read-only)."""
    return _Details(details.method, details.timeout, details.metadata, details.credentials,
                    details.wait_for_ready, details.compression)._replace(**changes)


# What grpc hands an interceptor: the call itself, taking call details and the request message.
Continuation = Callable[[grpc.ClientCallDetails, Any], Any]


def method_name(details: grpc.ClientCallDetails) -> str:
    """`GetConsent` of `/consentry.v1.ConsentService/GetConsent`."""
    method = details.method.decode() if isinstance(details.method, bytes) else details.method
    return method.rsplit("/", 1)[-1]


class CallPolicy(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """The deadline and retries above. With `idempotency_keys`, a write whose request has an empty
    `idempotency_key` is sent with a fresh random one (the same on each attempt), so that it too
    may be retried: the command line does this for every write it makes."""

    def __init__(self, timeout_s: float | None, retry: RetryPolicy, idempotency_keys: bool = False) -> None:
        self.timeout_s = timeout_s
        self.retry = retry
        self.idempotency_keys = idempotency_keys

    def intercept_unary_unary(self, continuation: Continuation, details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        timeout = details.timeout if details.timeout is not None else self.timeout_s
        request = self._keyed(request)
        name = method_name(details)
        retried = name in READS or bool(getattr(request, IDEMPOTENCY_FIELD, ""))
        deadline = None if timeout is None else time.monotonic() + timeout
        failed = 0
        while True:
            outcome = continuation(changed(details, timeout=_left(deadline)), request)
            failed += 1
            if not (retried and failed < self.retry.attempts and _unavailable(outcome)):
                return outcome
            pause = self.retry.pause_s(failed)
            left = _left(deadline)
            if left is not None and left <= pause:
                return outcome  # no time for another attempt: the caller sees why it failed
            time.sleep(pause)

    def intercept_unary_stream(self, continuation: Continuation, details: grpc.ClientCallDetails,
                               request: Any) -> Any:
        watch = method_name(details).startswith(WATCH_PREFIX)
        timeout = details.timeout if details.timeout is not None or watch else self.timeout_s
        return continuation(changed(details, timeout=timeout), request)

    def _keyed(self, request: Any) -> Any:
        if not (self.idempotency_keys and isinstance(request, Message)
                and IDEMPOTENCY_FIELD in request.DESCRIPTOR.fields_by_name
                and not getattr(request, IDEMPOTENCY_FIELD)):
            return request
        keyed = type(request)()
        keyed.CopyFrom(request)  # the caller's message is left as it was
        setattr(keyed, IDEMPOTENCY_FIELD, secrets.token_urlsafe(18))
        return keyed


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _unavailable(outcome: Any) -> bool:
    # A failed attempt is the RpcError itself; a successful one an outcome whose code is OK. (A
    # `.future()` call that may be retried is waited for here: the SDK makes none.)
    return isinstance(outcome, grpc.RpcError) and outcome.code() == grpc.StatusCode.UNAVAILABLE
