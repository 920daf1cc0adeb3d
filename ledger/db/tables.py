"""The ledger's tables (SQLAlchemy Core), private to ``consentry.ledger.db``.

Only ``metadata`` and ``create_tables`` are public: code outside this package
reads rows through ``LedgerReader`` and appends through ``LedgerWriter``, so
the layout below can change without touching its users.

Level-0 nodes (leaf hashes) are not duplicated in ``ledger_nodes``; they are
read from ``ledger_entries.leaf_hash``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
)

metadata = MetaData()

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),  # RFC 8785 bytes, hashed as is
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
)

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),  # >= 1
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
    # Concatenated 32-byte roots of the perfect subtrees covering [0, size),
    # largest first: popcount(size) hashes.
    Column("frontier", LargeBinary, nullable=False),
    CheckConstraint("id = 1", name="ledger_head_single_row"),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
)

# The service puts its own tables on the same ``metadata`` (one migration
# history), so creating "everything in metadata" may mean more than the ledger.
LEDGER_TABLES = (ledger_entries, ledger_nodes, ledger_head, ledger_checkpoints)

HEAD_ID = 1  # the head's only row


def create_tables(bind: Engine | Connection) -> None:
    """Create the ledger's tables (and only those) where they do not exist yet.

    For a ledger used on its own (tools, tests, benchmarks); an application
    that shares ``metadata`` creates them with its migrations instead.
    """
    metadata.create_all(bind, tables=LEDGER_TABLES)
