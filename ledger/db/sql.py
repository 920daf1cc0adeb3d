"""The ledger's dialect-specific SQL (PostgreSQL and SQLite, nothing else).

Proofs read many nodes in one statement of constant (PostgreSQL) or cached
(SQLite) text, so a proof is one round trip and never builds a SQLAlchemy
expression per call.  PostgreSQL gets arrays, so its text is constant
(psycopg prepares it server-side after a few uses; no re-planning); SQLite
joins a VALUES list to the primary keys (one index probe per node; a
row-value IN list would scan) and caches the text per list length.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, TextClause, text

from ..errors import StoreError
from ..merkle import NodeId
from .tables import HEAD_ID, ledger_entries, ledger_head, ledger_nodes

# Stays far below SQLite's bound-parameter limit (999 before SQLite 3.32).
SQLITE_BATCH = 256

_ENTRIES, _NODES, _HEAD = ledger_entries.fullname, ledger_nodes.fullname, ledger_head.fullname

# The head's size as a row (level -1) of the node query: the size check rides along.
_HEAD_SIZE_SQL = (
    "SELECT -1 AS level, size AS idx, CAST(NULL AS {blob}) AS hash"
    f" FROM {_HEAD} WHERE id = {HEAD_ID}"
)

_PG_NODES_SQL = (
    f"SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM {_ENTRIES}"
    " WHERE seq = ANY(CAST(:seqs AS BIGINT[]))"
    " UNION ALL SELECT n.level, n.idx, n.hash"
    " FROM unnest(CAST(:levels AS SMALLINT[]), CAST(:idxs AS BIGINT[])) AS q(level, idx)"
    f" JOIN {_NODES} n ON n.level = q.level AND n.idx = q.idx"
)
_PG_NODES = text(_PG_NODES_SQL)
_PG_NODES_AND_SIZE = text(_HEAD_SIZE_SQL.format(blob="BYTEA") + " UNION ALL " + _PG_NODES_SQL)
_SQLITE_SIZE = text(_HEAD_SIZE_SQL.format(blob="BLOB"))


def insert_ignoring_conflicts(connection: Connection, table: Table, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, for idempotent one-off rows."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        connection.execute(pg_insert(table).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        connection.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise StoreError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")


def node_batches(dialect: str, ids: Sequence[NodeId]) -> list[Sequence[NodeId]]:
    """``ids`` split into the lists one node statement may carry (at least one list)."""
    if dialect == "postgresql":
        return [ids]
    return [ids[i : i + SQLITE_BATCH] for i in range(0, len(ids), SQLITE_BATCH)] or [ids]


def nodes_statement(
    dialect: str, ids: Sequence[NodeId], with_size: bool
) -> tuple[TextClause, dict[str, Any]]:
    """One statement yielding ``(level, idx, hash)`` for ``ids``.

    With ``with_size`` it also yields the head's size as ``(-1, size, NULL)``
    (no such row before the first append).
    """
    if dialect == "postgresql":
        seqs, levels, idxs = [], [], []
        for level, index in ids:
            if level == 0:
                seqs.append(index)
            else:
                levels.append(level)
                idxs.append(index)
        params = {"seqs": seqs, "levels": levels, "idxs": idxs}
        return (_PG_NODES_AND_SIZE if with_size else _PG_NODES), params
    if dialect != "sqlite":  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise StoreError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")
    if not ids:  # (only asked for with_size)
        return _SQLITE_SIZE, {}
    bound: dict[str, Any] = {}
    for i, (level, index) in enumerate(ids):
        bound[f"l{i}"] = level
        bound[f"i{i}"] = index
    return _sqlite_nodes(len(ids), with_size), bound


@lru_cache(maxsize=2 * SQLITE_BATCH + 2)
def _sqlite_nodes(count: int, with_size: bool) -> TextClause:
    values = ", ".join(f"(:l{i}, :i{i})" for i in range(count))
    return text(
        f"WITH q(level, idx) AS (VALUES {values}) "
        + (_HEAD_SIZE_SQL.format(blob="BLOB") + " UNION ALL " if with_size else "")
        + f"SELECT 0, e.seq, e.leaf_hash FROM q JOIN {_ENTRIES} e"
        " ON q.level = 0 AND e.seq = q.idx"
        f" UNION ALL SELECT n.level, n.idx, n.hash FROM q JOIN {_NODES} n"
        " ON n.level = q.level AND n.idx = q.idx"
    )
