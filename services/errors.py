"""The service's error model, mapped to gRPC status in exactly one place (`to_status`).

Handlers raise these; nothing else in the service builds a gRPC status. Messages are written
for the caller and never contain clinical content or raw patient identifiers.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2


class ConsentryError(Exception):
    """Base of every error a caller can see."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    # Whose data the refused call was about, set with `.about` only for an enrolled patient:
    # the refusal is listed in their access history so they see the attempt; never shown to the
    # caller. Its ledger entry names them (by the ledger pseudonym) only when the caller may act
    # for them (`names_patient`); otherwise the entry names no patient, so the ledger never pairs
    # an id a caller chose with its pseudonym. A typed id the domain did not attach is never used.
    patient_id: str | None = None
    names_patient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def about(self, patient_id: str, *, acting_for: bool = False) -> ConsentryError:
        """Lists the refusal in the enrolled patient's history; `acting_for` says the caller is
        the patient, or their proxy acting within its scope, so the entry may name them."""
        self.patient_id = patient_id
        self.names_patient = acting_for
        return self

    def details(self) -> list[any_pb2.Any]:
        return []


class InvalidArgument(ConsentryError):
    """The request is malformed; fix the named fields and retry.

    At most MAX_VIOLATIONS violations are kept, then one entry saying how many more there were:
    a refusal (and its ledger entry) stays small however broken the request is."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    MAX_VIOLATIONS = 20

    def __init__(self, violations: Iterable[tuple[str, str]]) -> None:
        found = list(violations)
        self.violations = found[: self.MAX_VIOLATIONS]
        if len(found) > self.MAX_VIOLATIONS:
            self.violations.append(("request", f"and {len(found) - self.MAX_VIOLATIONS} more violations"))
        summary = "; ".join(f"{field}: {why}" for field, why in self.violations)
        super().__init__(f"invalid request: {summary}")

    def details(self) -> list[any_pb2.Any]:
        return [_packed(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in self.violations
        ]))]


class Unauthenticated(ConsentryError):
    """The call carried no valid credentials; get a fresh token signed by a registered key.

    `reason` is one of REASONS, a fixed vocabulary: refusals are ledgered as counts per reason,
    never with anything the token claimed. `proven` names the principal whose registered key
    verified the token when the refusal came after that (its staff claims failed, or its
    connection's client certificate is not bound to its key): that caller is accountable, and
    its refusal is ledgered on its own, naming it."""

    code = grpc.StatusCode.UNAUTHENTICATED
    REASONS = ("no_token", "malformed_token", "unknown_principal", "unknown_key", "revoked_key", "retired_key",
               "bad_signature", "expired", "not_yet_valid", "wrong_method", "request_mismatch", "invalid_claims",
               "replayed",
               "bad_staff_claims", "unknown_role", "role_not_allowed", "unregistered_practitioner", "role_not_held",
               "certificate_required", "certificate_mismatch")

    def __init__(self, message: str, *, reason: str = "invalid_claims", proven: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason in self.REASONS else "invalid_claims"
        self.proven = proven


class PermissionDenied(ConsentryError):
    """The caller is known but may not do this; `reasons` say why."""

    code = grpc.StatusCode.PERMISSION_DENIED

    def __init__(self, message: str, reasons: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.reasons = list(reasons)

    def details(self) -> list[any_pb2.Any]:
        if not self.reasons:
            return []
        return [_packed(error_details_pb2.ErrorInfo(
            reason="POLICY_DENIED", domain="consentry",
            metadata={f"reason_{i}": r for i, r in enumerate(self.reasons)},
        ))]


class NotFound(ConsentryError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ConsentryError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ConsentryError):
    """The request is well formed but the system is not in a state to accept it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ConsentryError):
    """Too many calls (or, unauthenticated, too many failed ones) in a short time; wait
    `retry_after_s` seconds and retry. Nothing was read or changed."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(max(1, int(self.retry_after_s * 1_000_000_000)))
        return [_packed(info)]


class Unavailable(ConsentryError):
    """A dependency (database, ledger, policy engine) could not do its part; nothing was
    disclosed or changed. Retrying later is safe."""

    code = grpc.StatusCode.UNAVAILABLE


def _packed(message: Message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def to_status(error: ConsentryError) -> grpc.Status:
    """The one mapping from our errors to a rich gRPC status (google.rpc.Status)."""
    from grpc_status import rpc_status

    status = status_pb2.Status(
        code=getattr(code_pb2, error.code.name), message=error.message, details=error.details()
    )
    return rpc_status.to_status(status)
