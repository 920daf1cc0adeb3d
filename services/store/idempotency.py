"""Idempotent writes: a retried call carrying the same idempotency key never writes twice.

The key is claimed inside the call's write transaction, so "the write committed" and "the key
is taken" are one fact; the API layer registers `claim` and `committed` to run around every
write transaction (`Database.on_write`). The response is stored just after; if the process dies
in between, a retry gets FAILED_PRECONDITION instead of a second write.
"""

from __future__ import annotations

import contextvars
import hashlib
from dataclasses import dataclass

from google.protobuf.message import Message
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import FailedPrecondition
from consentry.services.store.models import IdempotentCall


@dataclass
class IdempotentCallKey:
    principal: str
    method: str
    key: str
    request_hash: str
    claimed: bool = False

    @classmethod
    def of(cls, principal: str, method: str, request: Message) -> IdempotentCallKey | None:
        key = getattr(request, "idempotency_key", "")
        if not key:
            return None
        digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
        return cls(principal, method, key, digest)


_current: contextvars.ContextVar[IdempotentCallKey | None] = contextvars.ContextVar("idem", default=None)


def bind(call: IdempotentCallKey | None) -> contextvars.Token[IdempotentCallKey | None]:
    return _current.set(call)


def unbind(token: contextvars.Token[IdempotentCallKey | None]) -> None:
    _current.reset(token)


def claim(session: Session) -> None:
    """Called at the start of every write transaction: the call's first write claims its key."""
    call = _current.get()
    if call is not None and not call.claimed:
        session.add(
            IdempotentCall(
                principal=call.principal,
                method=call.method,
                idempotency_key=call.key,
                request_hash=call.request_hash,
                response=b"",
                created_ns=clock.now_ns(),
            )
        )
        session.info["consentry.idempotency_claim"] = call


def committed(session: Session) -> None:
    call = session.info.get("consentry.idempotency_claim")
    if call is not None:
        call.claimed = True


def replay(session: Session, call: IdempotentCallKey, response_type: type[Message]) -> Message | None:
    """The stored response of an earlier call with this key, or None if there was none."""
    row = session.get(IdempotentCall, (call.principal, call.method, call.key))
    if row is None:
        return None
    if row.request_hash != call.request_hash:
        raise FailedPrecondition("this idempotency key was already used for a different request")
    if not row.response:
        raise FailedPrecondition(
            "a call with this idempotency key is in progress or its response was lost; "
            "read the current state instead of retrying"
        )
    return response_type.FromString(row.response)


def remember(session: Session, call: IdempotentCallKey, response: Message) -> None:
    row = session.get(IdempotentCall, (call.principal, call.method, call.key))
    if row is not None:
        row.response = response.SerializeToString(deterministic=True)
