"""The ledger in a database (SQLAlchemy 2 Core; PostgreSQL and SQLite).

Appends run inside the caller's transaction, so an entry commits with the
state change it records or not at all.  The tables are private to this
package: read rows through ``LedgerReader``.  An application that keeps its
own tables in the same database puts them on ``metadata`` (one migration
history); a ledger used on its own calls ``create_tables``.

Needs SQLAlchemy; the verifier in ``consentry.ledger`` does not.
"""

from .cosigning import add_cosignatures
from .cutting import cut_checkpoint
from .head import Head
from .reader import LedgerReader, StoredCheckpoint, StoredEntry
from .sqlite import configure_sqlite
from .tables import create_tables, metadata
from .writer import MAX_ENTRY_BYTES, MAX_REDACTED_PER_ENTRY, Appended, LedgerWriter

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_REDACTED_PER_ENTRY",
    "Appended",
    "Head",
    "LedgerReader",
    "LedgerWriter",
    "StoredCheckpoint",
    "StoredEntry",
    "add_cosignatures",
    "configure_sqlite",
    "create_tables",
    "cut_checkpoint",
    "metadata",
]
