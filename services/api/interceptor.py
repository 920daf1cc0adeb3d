"""The one server interceptor every Consentry call passes through.

It authenticates the caller, makes the principal available to the handler, replays
idempotent retries, turns our errors into rich gRPC statuses, and ledgers every refused call
(unauthenticated, invalid, not permitted) so that a refusal is never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import NoReturn

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError

from consentry.services.errors import (
    ConsentryError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    to_status,
)
from consentry.services.identity.auth import Authenticator
from consentry.services.identity.principals import Principal, acting_as
from consentry.services.store import idempotency
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database, WriteHook
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

log = logging.getLogger("consentry.calls")

API_PREFIX = "/consentry.v1."

# A handler as the generated servicers define one: (request, context) -> response(s).
Behaviour = Callable[[Message, grpc.ServicerContext], Message]
StreamBehaviour = Callable[[Message, grpc.ServicerContext], Iterator[Message]]


def _response_types() -> dict[str, type[Message]]:
    types: dict[str, type[Message]] = {}
    for module in (audit_pb2, consent_pb2, exchange_pb2, registry_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                name = f"/{service.full_name}/{method.name}"
                types[name] = message_factory.GetMessageClass(method.output_type)
    return types


class GuardInterceptor(grpc.ServerInterceptor):
    def __init__(self, db: Database, authenticator: Authenticator, trail: AuditTrail) -> None:
        self._db = db
        # A call's first write claims its idempotency key inside that write's own transaction.
        db.on_write(WriteHook(begin=idempotency.claim, committed=idempotency.committed))
        self._auth = authenticator
        self._trail = trail
        self._response_types = _response_types()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(API_PREFIX):
            return handler  # health and reflection are public
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"{method}: only unary and server-streaming calls are served")

    def _unary(self, behaviour: Behaviour, method: str) -> Behaviour:
        def guarded(request: Message, context: grpc.ServicerContext) -> Message:
            principal: Principal | None = None
            try:
                principal = self._auth.authenticate(context.invocation_metadata(), method)
                with acting_as(principal):
                    return self._idempotent(behaviour, method, principal, request, context)
            except Exception as error:
                self._fail(method, principal, request, error, context)

        return guarded

    def _stream(self, behaviour: StreamBehaviour, method: str) -> StreamBehaviour:
        def guarded(request: Message, context: grpc.ServicerContext) -> Iterator[Message]:
            principal: Principal | None = None
            try:
                principal = self._auth.authenticate(context.invocation_metadata(), method)
                responses = behaviour(request, context)
                while True:
                    with acting_as(principal):
                        item = next(responses, None)
                    if item is None:
                        return
                    yield item
            except Exception as error:
                self._fail(method, principal, request, error, context)

        return guarded

    def _idempotent(self, behaviour: Behaviour, method: str, principal: Principal, request: Message,
                    context: grpc.ServicerContext) -> Message:
        call = idempotency.IdempotentCallKey.of(principal.id, method, request)
        if call is None:
            return behaviour(request, context)
        response_type = self._response_types[method]
        with self._db.read() as session:
            earlier = idempotency.replay(session, call, response_type)
        if earlier is not None:
            return earlier
        token = idempotency.bind(call)
        try:
            response = behaviour(request, context)
        except IntegrityError as exc:
            if call.claimed:
                raise
            # A concurrent call with the same key won the claim.
            with self._db.read() as session:
                earlier = idempotency.replay(session, call, response_type)
            if earlier is None:
                raise FailedPrecondition("a call with this idempotency key is in progress") from exc
            return earlier
        finally:
            idempotency.unbind(token)
        if call.claimed:
            with self._db.write() as session:
                idempotency.remember(session, call, response)
        return response

    def _fail(self, method: str, principal: Principal | None, request: Message, error: Exception,
              context: grpc.ServicerContext) -> NoReturn:
        """Ends the call: our errors become their status, anything else an opaque INTERNAL."""
        if isinstance(error, ConsentryError):
            self._refuse(method, principal, request, error, context)
        log.error("internal error in %s", method, exc_info=error)
        context.abort(grpc.StatusCode.INTERNAL, "internal error; nothing was disclosed")
        raise AssertionError("unreachable: abort ends the call by raising")

    def _refuse(self, method: str, principal: Principal | None, request: Message, error: ConsentryError,
                context: grpc.ServicerContext) -> NoReturn:
        """Ledgers the refusal (best effort: the error itself is never hidden) and aborts."""
        actor = principal.id if principal else _claimed(error)
        try:
            with self._db.write() as session:
                self._trail.append(
                    session,
                    "auth.refused" if principal is None else "call.refused",
                    actor,
                    # Only a patient the domain found enrolled (`.about`): an id the caller typed
                    # never becomes a pseudonym in the ledger.
                    patient_id=error.patient_id,
                    method=method,
                    status=error.code.name,
                    reasons=_reasons(error),
                    role=principal.role if principal and principal.role else None,
                    practitioner=principal.practitioner if principal and principal.practitioner else None,
                )
        except Exception:
            log.exception("could not ledger a refused call to %s", method)
        log.info("refused %s: %s", method, error.code.name)
        context.abort_with_status(to_status(error))
        raise AssertionError("unreachable: abort_with_status ends the call by raising")


def _claimed(error: ConsentryError) -> str:
    """Who an unauthenticated caller claimed to be, as far as the ledger may name them."""
    if isinstance(error, Unauthenticated) and error.claimed_principal is not None:
        return error.claimed_principal[:140]
    return "anonymous"


def _reasons(error: ConsentryError) -> list[str]:
    if isinstance(error, InvalidArgument):
        return [f"{field}: {why}" for field, why in error.violations]
    if isinstance(error, PermissionDenied) and error.reasons:
        return list(error.reasons)
    return [error.message]
