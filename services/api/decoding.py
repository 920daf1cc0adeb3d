"""What a call's request is by the time a handler sees it: decoded, and within its limits.

The parser also keeps the request's exact bytes and their SHA-256, hashed before anything is
decoded: the caller's token binds that hash (`req`, docs/identity.md), and a consent change keeps
the bytes as evidence.

grpcio's stock deserializer raises on bytes that are not the method's message (malformed wire
data, a string field that is not UTF-8), and grpcio answers that INTERNAL before any
interceptor has run: nothing authenticated, nothing ledgered. The parser here hands such bytes
over as `Undecodable` instead, and `checked` refuses them as INVALID_ARGUMENT, once the guard
has authenticated the caller and so can ledger the refusal (or count it, for a caller it could
not authenticate).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf import message_factory
from google.protobuf.message import Message

from consentry.services.domain.limits import check_limits
from consentry.services.errors import InvalidArgument
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2


class Undecodable:
    """Request bytes that did not parse as `type_name`."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


Request = Message | Undecodable


@dataclass(frozen=True)
class Received:
    """A request as it arrived: its exact bytes, their SHA-256, and what they decoded to."""

    raw: bytes = field(repr=False)
    digest: bytes
    request: Request


def method_types(which: str) -> dict[str, type[Message]]:
    """Each of our methods' request ("input_type") or response ("output_type") class."""
    types: dict[str, type[Message]] = {}
    for module in (audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                types[f"/{service.full_name}/{method.name}"] = message_factory.GetMessageClass(getattr(method, which))
    return types


def tolerant_parser(request_type: type[Message]) -> Callable[[bytes], Received]:
    """A request deserializer for grpcio that never raises."""

    def parse(raw: bytes) -> Received:
        digest = hashlib.sha256(raw).digest()
        try:
            request: Request = request_type.FromString(raw)
        except Exception:  # DecodeError, for malformed wire data and invalid UTF-8 alike
            request = Undecodable(request_type.DESCRIPTOR.full_name)
        return Received(raw, digest, request)

    return parse


def checked(request: Request, body_limit: int) -> Message:
    """The decoded request, if it is within every limit (domain/limits.py); a deposit's body
    within `body_limit` bytes (the server's setting)."""
    if isinstance(request, Undecodable):
        raise InvalidArgument([("request", f"must be a well-formed {request.type_name} message "
                                           "(protobuf wire format, strings in UTF-8)")])
    check_limits(request, body_limit)
    return request
