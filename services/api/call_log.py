"""One JSON log line and the metrics of every call (docs/operations.md, "Logs" and "Metrics").

Each call gets a random request id, returned to the caller in the trailing metadata
`x-request-id` (success or error) so that a user can quote it, and named in the call's log line
and in every other line logged while the call runs. The line says who called only by kind
(operator, org, patient, auditor, anonymous): never an id, a body or anything the caller chose.

Logs are JSON lines on stderr (`configure`), at the level of `serve --log-level`; the per-call
line is INFO, so WARNING silences it. OpenTelemetry spans are added when CONSENTRY_OTEL_TRACING=1
and the `opentelemetry` API is importable; the exporter is the operator's to configure.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from consentry.services import metrics
from consentry.services.identity.principals import KINDS, Principal

log = logging.getLogger("consentry.calls")

REQUEST_ID = "x-request-id"
ANONYMOUS = "anonymous"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRACING_ENV = "CONSENTRY_OTEL_TRACING"


class Call:
    """The call under way: its request id and, once authenticated, its principal's kind."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.request_id = secrets.token_hex(8)
        self.principal = ANONYMOUS
        self.started = time.perf_counter()

    def finish(self, context: grpc.ServicerContext, code: grpc.StatusCode | None) -> None:
        """Tags the response with the request id, counts the call and logs its line."""
        extra = tuple(context.trailing_metadata() or ())
        context.set_trailing_metadata((*extra, (REQUEST_ID, self.request_id)))
        code_name = (code or context.code() or grpc.StatusCode.OK).name
        seconds = time.perf_counter() - self.started
        metrics.CALLS.labels(self.method, code_name).inc()
        metrics.CALL_SECONDS.labels(self.method).observe(seconds)
        fields = {"principal": self.principal, "method": self.method, "code": code_name,
                  "duration_ms": round(seconds * 1000, 3)}
        log.info("call", extra={"request_id": self.request_id, "call": fields})


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("consentry_call", default=None)


def identified(principal: Principal) -> None:
    """Records who the current call is from, by kind only."""
    call = _current.get()
    if call is not None:
        call.principal = principal.kind if principal.kind in KINDS else ANONYMOUS


def current_request_id() -> str | None:
    call = _current.get()
    return call.request_id if call is not None else None


def unary(method: str, guarded: Callable[[Any, grpc.ServicerContext], Message]
          ) -> Callable[[Any, grpc.ServicerContext], Message]:
    def observed(request: Any, context: grpc.ServicerContext) -> Message:
        call = Call(method)
        token = _current.set(call)
        code = None
        try:
            with _span(call):
                return guarded(request, context)
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            call.finish(context, code)
            _current.reset(token)

    return observed


def stream(method: str, guarded: Callable[[Any, grpc.ServicerContext], Iterator[Message]]
           ) -> Callable[[Any, grpc.ServicerContext], Iterator[Message]]:
    def observed(request: Any, context: grpc.ServicerContext) -> Iterator[Message]:
        call = Call(method)
        token = _current.set(call)
        code = None
        try:
            with _span(call):
                yield from guarded(request, context)
        except GeneratorExit:  # the caller went away mid-stream
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            call.finish(context, code)
            _current.reset(token)

    return observed


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id of the call the line
    was logged in, a call line's own fields, and a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            line["request_id"] = request_id
        line.update(getattr(record, "call", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


def configure(level: str) -> None:
    """Every logger of the process to stderr as JSON lines, at `level` (one of LEVELS)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=level, handlers=[handler], force=True)


_tracer: Any = None


def _span(call: Call) -> AbstractContextManager[Any]:
    """An OpenTelemetry server span for the call, when tracing is asked for and available."""
    global _tracer
    if os.environ.get(TRACING_ENV) != "1":
        return nullcontext()
    if _tracer is None:
        try:  # optional: never a dependency of ours
            trace = importlib.import_module("opentelemetry.trace")
        except ImportError:
            return nullcontext()
        _tracer = trace.get_tracer("consentry")
    return _tracer.start_as_current_span(call.method, attributes={"rpc.system": "grpc", "rpc.method": call.method,
                                                                     "consentry.request_id": call.request_id})
