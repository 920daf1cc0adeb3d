"""Spending a token: its id is recorded once, so a second use of the same token is a replay.

The use is written inside the call's first write transaction (a fetch's, a grant's, a refusal's),
registered as a `WriteHook` like the idempotency claim: "the call wrote" and "its token is spent"
are then one commit and one fsync, not two. A call that writes nothing (a read, a replayed
idempotent response, a refusal counted but not ledgered) spends its token in a transaction of its
own before its answer leaves (`settle`), so no answer is ever sent for a token that was not spent.

Until it is spent, a token can reach a handler twice at once; the second use then fails at its
first write (the row already exists, or on PostgreSQL waits for the first to commit), which rolls
back everything that call did, or at `settle`, before it answers. Either way one use succeeds.

Pruning compares with the database's clock, not this replica's: every replica sharing the
database keeps and removes the same uses, whatever their own clocks say.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consentry.services.errors import Unauthenticated
from consentry.services.identity import tokens
from consentry.services.store.db import Database, WriteHook, now_ns_sql
from consentry.services.store.models import TokenUse

REPLAYED = "replayed"
# A use of a token is kept this long past the token's expiry on the database's clock, so that a
# replica whose clock runs up to this much behind the database's still finds it.
REPLAY_MARGIN_S = tokens.MAX_LIFETIME_S
_PRUNE_EVERY = 500
_IN_TRANSACTION = "consentry.token_use"


@dataclass
class Spend:
    """One call's token, from authentication until its use is committed."""

    principal: str = ""
    jti: str = ""
    expires_ns: int = 0
    spent: bool = False
    replayed: bool = False

    def of(self, claims: tokens.Claims) -> None:
        self.principal, self.jti = claims.principal, claims.jti
        self.expires_ns = (claims.expires_at + tokens.CLOCK_SKEW_S) * 1_000_000_000

    @property
    def due(self) -> bool:
        return bool(self.jti) and not (self.spent or self.replayed)


_current: contextvars.ContextVar[Spend | None] = contextvars.ContextVar("token_spend", default=None)


@contextmanager
def spending() -> Iterator[Spend]:
    """The call's token use: bound for the whole call, its refusal included."""
    spend = Spend()
    token = _current.set(spend)
    try:
        yield spend
    finally:
        _current.reset(token)


def settle(db: Database) -> None:
    """Spends the call's token now, if no write of the call has (before it answers)."""
    spend = _current.get()
    if spend is not None and spend.due:
        with db.write():
            pass  # the hook writes the use


def _claim(session: Session) -> None:
    spend = _current.get()
    if spend is None or not spend.due:
        return
    session.add(TokenUse(principal=spend.principal, jti=spend.jti, expires_ns=spend.expires_ns))
    try:
        session.flush()
    except IntegrityError as exc:
        spend.replayed = True
        raise Unauthenticated("the token has already been used (replay)", reason=REPLAYED) from exc
    session.info[_IN_TRANSACTION] = spend
    if next(_spent) % _PRUNE_EVERY == 0:
        prune(session)


def _committed(session: Session) -> None:
    spend = session.info.get(_IN_TRANSACTION)
    if spend is not None:
        spend.spent = True


def prune(session: Session) -> None:
    """Forgets the uses of tokens that expired REPLAY_MARGIN_S ago by the database's clock."""
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    session.execute(delete(TokenUse).where(
        TokenUse.expires_ns < now_ns_sql(is_sqlite) - REPLAY_MARGIN_S * 1_000_000_000))


# Writes a call's token use in its first write transaction. Register it on the database before
# any other hook, so that the transaction's first statement is the use and a unique violation
# there is this token's replay and nothing else's.
SPENDING_HOOK = WriteHook(begin=_claim, committed=_committed)
_spent = itertools.count(1)
