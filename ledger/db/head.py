"""The head row: the ledger's size, chain hash and right-edge frontier.

One row, ``ledger_head``, serializes appenders: ``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the caller's ``BEGIN IMMEDIATE`` already holds the
database write lock.  Because the head stores the frontier, an append reads
nothing else.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select

from ..errors import StoreError
from ..hashing import ZERO_HASH
from ..merkle import Frontier
from .sql import insert_ignoring_conflicts
from .tables import HEAD_ID, ledger_head


class Head(NamedTuple):
    """The committed tail of the ledger: ``size`` entries ending in ``chain_hash``."""

    size: int
    chain_hash: bytes
    frontier: Frontier


EMPTY_HEAD_VALUES = {"id": HEAD_ID, "size": 0, "chain_hash": ZERO_HASH, "frontier": b""}

# Built once: constructing a Core statement per call costs more than running it.
_HEAD_QUERY = select(ledger_head.c.size, ledger_head.c.chain_hash, ledger_head.c.frontier).where(
    ledger_head.c.id == HEAD_ID
)
_HEAD_QUERY_FOR_UPDATE = _HEAD_QUERY.with_for_update()  # compiled away on SQLite


def read_head(connection: Connection, *, lock: bool) -> Head | None:
    """The head row, or ``None`` before the first append ever; ``lock`` holds it until commit."""
    row = connection.execute(_HEAD_QUERY_FOR_UPDATE if lock else _HEAD_QUERY).first()
    if row is None:
        return None
    try:
        frontier = Frontier.from_bytes(row.size, row.frontier)
    except Exception as exc:
        raise StoreError("the ledger head row is corrupt (frontier does not match size)") from exc
    return Head(row.size, row.chain_hash, frontier)


def lock_head(connection: Connection) -> Head:
    """Lock the head row for this transaction, creating it on the first append ever."""
    head = read_head(connection, lock=True)
    if head is None:
        # Two first appenders may race here: one insert wins, both then lock that row.
        insert_ignoring_conflicts(connection, ledger_head, EMPTY_HEAD_VALUES)
        head = read_head(connection, lock=True)
        if head is None:  # pragma: no cover - the row was just inserted
            raise StoreError("the ledger head row could not be created")
    return head


def empty_head() -> Head:
    """The head of a ledger nobody has appended to."""
    return Head(0, ZERO_HASH, Frontier())
