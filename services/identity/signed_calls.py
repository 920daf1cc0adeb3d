"""The call being served as its caller signed it: the token exactly as sent and the request's
exact bytes, whose SHA-256 the token binds. A consent change keeps both as evidence that its
patient (or proxy) made it (domain/consent_evidence.py, docs/identity.md)."""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from consentry.services.identity import tokens


@dataclass(frozen=True)
class SignedCall:
    method: str
    token: str = field(repr=False)
    request: bytes = field(repr=False)

    @property
    def authorization(self) -> str:
        """SHA-256 (hex) of the token's ASCII bytes: what a ledger entry names the call by."""
        return authorization_of(self.token)

    @property
    def key_id(self) -> str:
        return tokens.unverified_header(self.token)[1]


def authorization_of(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


_current: contextvars.ContextVar[SignedCall | None] = contextvars.ContextVar("signed_call", default=None)


def current_signed_call() -> SignedCall | None:
    """The call being served; None outside a call the interceptor authenticated."""
    return _current.get()


@contextmanager
def serving(call: SignedCall) -> Iterator[None]:
    token = _current.set(call)
    try:
        yield
    finally:
        _current.reset(token)
