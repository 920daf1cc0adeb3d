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
    # the refusal is ledgered as about them (a pseudonym) so they see the attempt; never shown.
    # The ledger names no patient the domain did not attach, so a typed id is never pseudonymised.
    patient_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def about(self, patient_id: str) -> ConsentryError:
        self.patient_id = patient_id
        return self

    def details(self) -> list[any_pb2.Any]:
        return []


class InvalidArgument(ConsentryError):
    """The request is malformed; fix the named fields and retry."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[tuple[str, str]]) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{field}: {why}" for field, why in self.violations)
        super().__init__(f"invalid request: {summary}")

    def details(self) -> list[any_pb2.Any]:
        return [_packed(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in self.violations
        ]))]


class Unauthenticated(ConsentryError):
    """The call carried no valid credentials; get a fresh token signed by a registered key."""

    code = grpc.StatusCode.UNAUTHENTICATED

    def __init__(self, message: str, claimed_principal: str | None = None) -> None:
        super().__init__(message)
        # Whom the token claimed to be, in a form the ledger may name: ledgered with the refusal, never shown.
        self.claimed_principal = claimed_principal


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
