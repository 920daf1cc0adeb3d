"""The KEK fence: which KEK may wrap a new data key, recorded in the database.

Every server reads its KEK from its own data directory (kek_rotation.DirectoryKekProvider). A
replica whose ``kek.key`` is stale (a copy of the data directory made before a rotation, a
server whose directory was not updated) would go on wrapping new data keys under the KEK being
retired, which after a compromise is the one an attacker holds. So the rotation records the new
KEK's id in ``service_state`` (name ``kek.fence``), with when it moved (``kek.rotated_ns``), and
every transaction that stores a newly wrapped key checks it first (`require_current`): a key
wrapped under any other KEK is refused UNAVAILABLE ("retry"), nothing written. The check reads
the fence row FOR SHARE (PostgreSQL), so a rotation moving it waits for, or is waited for by,
every such transaction; SQLite serialises writers anyway.

No fence row (a database never rotated by `consentry keys rotate kek`) fences nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import Unavailable
from consentry.services.store.models import ServiceState

FENCE = "kek.fence"
ROTATED_NS = "kek.rotated_ns"
COMPROMISE = "kek.compromise"  # the KEK a compromise rotation is re-sealing everything under
STALE = "this server's key-encryption key is not the current one (a rotation moved it); nothing was written; retry"


def require_current(s: Session, kek_id: str) -> None:
    """Raises Unavailable unless `kek_id` may wrap new data keys; in the storing transaction."""
    fence = s.execute(select(ServiceState.value).where(ServiceState.name == FENCE)
                      .with_for_update(read=True)).scalar()
    if fence is not None and fence != kek_id:
        raise Unavailable(STALE)


def current(s: Session) -> str | None:
    return s.execute(select(ServiceState.value).where(ServiceState.name == FENCE)).scalar()


def rotated_ns(s: Session) -> int | None:
    """When the fence last moved (the retired KEKs stopped wrapping); None if never."""
    value = s.execute(select(ServiceState.value).where(ServiceState.name == ROTATED_NS)).scalar()
    return int(value) if value is not None else None


def move(s: Session, kek_id: str) -> None:
    """Moves the fence to `kek_id` (the KEK just promoted) and stamps the time, unless it is there."""
    if current(s) == kek_id:
        return
    now = clock.now_ns()
    set_value(s, FENCE, kek_id, now)
    set_value(s, ROTATED_NS, str(now), now)


def get_value(s: Session, name: str) -> str | None:
    return s.execute(select(ServiceState.value).where(ServiceState.name == name)).scalar()


def set_value(s: Session, name: str, value: str | None, now: int | None = None) -> None:
    """Sets (or, with None, deletes) one service_state value."""
    row = s.get(ServiceState, name, with_for_update=True)
    if value is None:
        if row is not None:
            s.delete(row)
        return
    stamp = now if now is not None else clock.now_ns()
    if row is None:
        s.add(ServiceState(name=name, value=value, updated_ns=stamp))
    else:
        row.value, row.updated_ns = value, stamp
