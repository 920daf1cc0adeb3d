"""Who is calling: the authenticated principal, available to handlers for the call's duration."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from consentry.services.errors import PermissionDenied, Unauthenticated

KINDS = ("org", "patient", "auditor", "operator")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `id` is the token issuer, e.g. "org:stmarys" or "operator".

    For an institution: the acting practitioner, the role they act in (one the institution
    registered for them), and the institution's kind as the policy names it ("hospital", ...).
    `key_id`: the identity key that signed the call's token, so that a call outliving its token
    (a live stream) can stop once that key is replaced or revoked."""

    id: str
    role: str = ""
    practitioner: str = ""
    institution_kind: str = ""
    key_id: str = ""

    @property
    def kind(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(":", 1)[1] if ":" in self.id else self.id

    def require(self, *kinds: str) -> None:
        """Refuses the call unless the caller is one of `kinds`."""
        if self.kind not in kinds:
            wanted = " or ".join(kinds)
            raise PermissionDenied(f"this call is for {wanted} principals, not {self.kind}")


def parse_principal(value: str) -> Principal:
    kind = value.split(":", 1)[0]
    if value != "operator" and (kind not in KINDS or ":" not in value or not value.split(":", 1)[1]):
        raise Unauthenticated("the token's issuer is not a principal Consentry knows", reason="unknown_principal")
    return Principal(value)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:  # only reachable if a handler is served without the interceptor
        raise Unauthenticated("no authenticated principal on this call")
    return principal


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)
