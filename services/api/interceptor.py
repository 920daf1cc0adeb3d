"""The one server interceptor every Consentry call passes through.

In order, it: refuses a source that has failed to authenticate too often (rate_limits),
authenticates the caller (its token bound to the exact request bytes received), holds the
principal to its rate, refuses a request it could not decode or that is past its limits
(domain/limits), makes the principal and its signed call available to the handler, replays
idempotent retries, and turns our errors into rich gRPC statuses. Around all of it, each call is
logged and counted (call_log) with a request id its caller gets back. Every refusal is ledgered so
that none is silent: an authenticated principal's one entry per call, bounded in size;
unauthenticated calls and calls over a rate as counts (refusal_summaries), since they would
otherwise let anyone grow the ledger at will.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import NoReturn

import grpc
from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError

from consentry.services.api import call_log
from consentry.services.api.decoding import Received, checked, method_types, tolerant_parser
from consentry.services.api.drain import Drain
from consentry.services.api.enrolment_codes import REDEEM_METHOD
from consentry.services.api.rate_limits import PrincipalLimits, SourceLimits, forwarded_peer, source_of
from consentry.services.api.refusal_summaries import ENROLMENT_CODE_REFUSED, RATE_LIMITED, RefusalSummaries
from consentry.services.config import Settings
from consentry.services.errors import (
    ConsentryError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    to_status,
)
from consentry.services.identity import token_uses
from consentry.services.identity.auth import Authenticator
from consentry.services.identity.principals import Principal, acting_as
from consentry.services.identity.signed_calls import SignedCall, serving
from consentry.services.store import idempotency
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database, WriteHook

log = logging.getLogger("consentry.calls")

API_PREFIX = "/consentry.v1."

# A handler as the generated servicers define one: (request, context) -> response(s).
Behaviour = Callable[[Message, grpc.ServicerContext], Message]
StreamBehaviour = Callable[[Message, grpc.ServicerContext], Iterator[Message]]


class GuardInterceptor(grpc.ServerInterceptor):
    def __init__(self, db: Database, authenticator: Authenticator, trail: AuditTrail, settings: Settings) -> None:
        self._db = db
        # A call's first write spends its token and claims its idempotency key, in that write's
        # own transaction (the token first: identity/token_uses.py).
        db.on_write(token_uses.SPENDING_HOOK)
        db.on_write(WriteHook(begin=idempotency.claim, committed=idempotency.committed))
        self._auth = authenticator
        self._trail = trail
        self._request_types = method_types("input_type")
        self._response_types = method_types("output_type")
        self._sources = SourceLimits(settings.rate_auth_failures, settings.rate_window_s)
        self._principals = PrincipalLimits(settings.rate_calls_per_s, settings.rate_burst)
        # Refused enrolment-code redeems per source: the code space is 2^60, this keeps guessing slow.
        self._codes = SourceLimits(settings.enrolment_code_failures, settings.enrolment_code_window_s)
        self.summaries = RefusalSummaries(settings.rate_window_s)
        self._body_limit = settings.max_body_bytes
        # Set by the server when it runs the web front door (rate_limits.forwarded_peer).
        self.gateway_secret: str | None = None
        # The calls under way, and new ones refused once the server drains (api/drain.py).
        self.drain = Drain()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(API_PREFIX):
            return handler  # health and reflection are public
        parse = tolerant_parser(self._request_types[method])
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                call_log.unary(method, self.drain.unary(self._unary(handler.unary_unary, method))),
                request_deserializer=parse, response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                call_log.stream(method, self.drain.stream(self._stream(handler.unary_stream, method))),
                request_deserializer=parse, response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"{method}: only unary and server-streaming calls are served")

    def _unary(self, behaviour: Behaviour, method: str) -> Callable[[Received, grpc.ServicerContext], Message]:
        def guarded(received: Received, context: grpc.ServicerContext) -> Message:
            if method == REDEEM_METHOD:
                return self._tokenless(behaviour, method, received, context)
            principal: Principal | None = None
            with token_uses.spending() as spend:
                try:
                    principal, call = self._authenticate(method, received, context, spend)
                    self._hold_to_rate(principal)
                    with acting_as(principal), serving(call):
                        response = self._idempotent(behaviour, method, principal,
                                                    checked(received.request, self._body_limit), context)
                    token_uses.settle(self._db)
                    return response
                except Exception as error:
                    self._fail(method, principal, error, context)

        return guarded

    def _stream(self, behaviour: StreamBehaviour,
                method: str) -> Callable[[Received, grpc.ServicerContext], Iterator[Message]]:
        def guarded(received: Received, context: grpc.ServicerContext) -> Iterator[Message]:
            principal: Principal | None = None
            # The token is spent by the stream's first write (a fetch's decisions) or, failing
            # that, before its first message leaves.
            with token_uses.spending() as spend:
                try:
                    principal, call = self._authenticate(method, received, context, spend)
                    self._hold_to_rate(principal)
                    with acting_as(principal), serving(call):
                        responses = behaviour(checked(received.request, self._body_limit), context)
                        item = next(responses, None)
                    token_uses.settle(self._db)
                except Exception as error:
                    self._fail(method, principal, error, context)
            try:
                while item is not None:
                    yield item
                    with acting_as(principal), serving(call):
                        item = next(responses, None)
            except Exception as error:
                self._fail(method, principal, error, context)

        return guarded

    def _tokenless(self, behaviour: Behaviour, method: str, received: Received,
                   context: grpc.ServicerContext) -> Message:
        """RedeemEnrolmentCode: no token (the caller has no key yet), its own attempt limit per
        source, and its refusals counted like unauthenticated calls (no caller is proven)."""
        source = self._source(context)
        wait = self._codes.blocked_for(source)
        error: Exception
        if wait:
            error = ResourceExhausted("too many refused enrolment codes from this address; retry later", wait)
        else:
            try:
                return behaviour(checked(received.request, self._body_limit), context)
            except Exception as exc:
                error = exc
                self._codes.failed(source)
        if not isinstance(error, ConsentryError):
            log.error("internal error in %s", method, exc_info=error)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; nothing was disclosed")
            raise AssertionError("unreachable: abort ends the call by raising")
        self.summaries.unauthenticated(source, method, RATE_LIMITED if wait else ENROLMENT_CODE_REFUSED)
        log.info("refused %s: %s", method, error.code.name)
        context.abort_with_status(to_status(error))
        raise AssertionError("unreachable: abort_with_status ends the call by raising")

    def _authenticate(self, method: str, received: Received, context: grpc.ServicerContext,
                      spend: token_uses.Spend) -> tuple[Principal, SignedCall]:
        """The caller and its signed call, unless its source has failed too often to be worth a
        look at its token. The token must bind the bytes received (hashed before decoding)."""
        wait = self._sources.blocked_for(self._source(context))
        if wait:
            raise ResourceExhausted("too many failed authentications from this address; retry later", wait)
        principal, token = self._auth.authenticate(context.invocation_metadata(), method, received.digest, spend,
                                                   _client_certificate(context))
        call_log.identified(principal)
        return principal, SignedCall(method, token, received.raw)

    def _source(self, context: grpc.ServicerContext) -> str:
        return source_of(forwarded_peer(context.peer(), context.invocation_metadata(), self.gateway_secret))

    def _hold_to_rate(self, principal: Principal) -> None:
        wait = self._principals.wait_for(principal.id)
        if wait:
            raise ResourceExhausted("too many calls; slow down and retry later", wait)

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

    def _fail(self, method: str, principal: Principal | None, error: Exception,
              context: grpc.ServicerContext) -> NoReturn:
        """Ends the call: our errors become their status, anything else an opaque INTERNAL."""
        if isinstance(error, ConsentryError):
            if isinstance(error, Unauthenticated) and error.reason == token_uses.REPLAYED:
                principal = None  # counted like any other token refused, as before it was spent
            if isinstance(error, Unauthenticated) and error.proven:
                self._refuse(method, Principal(error.proven), error, context, kind="auth.refused")
            if principal is None:
                self._refuse_unauthenticated(method, error, context)
            if isinstance(error, ResourceExhausted):
                self._refuse_over_rate(method, principal, error, context)
            self._refuse(method, principal, error, context)
        log.error("internal error in %s", method, exc_info=error)
        context.abort(grpc.StatusCode.INTERNAL, "internal error; nothing was disclosed")
        raise AssertionError("unreachable: abort ends the call by raising")

    def _refuse_unauthenticated(self, method: str, error: ConsentryError, context: grpc.ServicerContext) -> NoReturn:
        """Counted into its source's summary: nothing the call claimed is proven, so nothing of
        it is ledgered, and a flood of such calls appends one entry per source and window."""
        source = self._source(context)
        reason = error.reason if isinstance(error, Unauthenticated) else RATE_LIMITED
        if isinstance(error, Unauthenticated):
            self._sources.failed(source)
        self.summaries.unauthenticated(source, method, reason)
        log.info("refused %s: %s (%s)", method, error.code.name, reason)
        context.abort_with_status(to_status(error))
        raise AssertionError("unreachable: abort_with_status ends the call by raising")

    def _refuse_over_rate(self, method: str, principal: Principal, error: ConsentryError,
                          context: grpc.ServicerContext) -> NoReturn:
        self.summaries.over_rate(principal.id, method)
        # Spent like any call's token, so a refused one is not tried again (a concurrent use
        # may have spent it first: this call is refused all the same).
        with contextlib.suppress(Unauthenticated):
            token_uses.settle(self._db)
        log.info("refused %s: %s (over the principal's rate)", method, error.code.name)
        context.abort_with_status(to_status(error))
        raise AssertionError("unreachable: abort_with_status ends the call by raising")

    def _refuse(self, method: str, principal: Principal, error: ConsentryError,
                context: grpc.ServicerContext, kind: str = "call.refused") -> NoReturn:
        """Ledgers the refusal (best effort: the error itself is never hidden) and aborts."""
        actor = principal.id
        try:
            with self._db.write() as session:
                self._trail.append(
                    session,
                    kind,
                    actor,
                    # Listed for a patient the domain found enrolled (`.about`), so they see the
                    # attempt; named in the entry only when the caller may act for them, so the
                    # ledger never pairs an id the caller typed with its pseudonym.
                    patient_id=error.patient_id,
                    named=error.names_patient,
                    method=method,
                    status=error.code.name,
                    reasons=_reasons(error),
                    role=principal.role or None,
                    practitioner=principal.practitioner or None,
                )
        except Exception:
            log.exception("could not ledger a refused call to %s", method)
        log.info("refused %s: %s", method, error.code.name)
        context.abort_with_status(to_status(error))
        raise AssertionError("unreachable: abort_with_status ends the call by raising")


def _client_certificate(context: grpc.ServicerContext) -> bytes | None:
    """The client certificate (PEM) the connection's TLS handshake verified; None without one."""
    certificates = context.auth_context().get("x509_pem_cert")
    return certificates[0] if certificates else None


def _reasons(error: ConsentryError) -> list[str]:
    """What the refusal's ledger entry says: violations (already capped), or at most as many of
    the policy's reasons, or the error's own message."""
    if isinstance(error, InvalidArgument):
        return [f"{field}: {why}" for field, why in error.violations]
    if isinstance(error, PermissionDenied) and error.reasons:
        return list(error.reasons)[: InvalidArgument.MAX_VIOLATIONS]
    return [error.message]
