"""Witness cosignatures on stored checkpoints: added as signature lines of the stored note.

A signed note may carry several signatures, each over the text alone, so the
note that ``LedgerReader`` returns (and the service publishes) grows by one
line per witness as cosignatures arrive; the log's own line never changes.
"""

from __future__ import annotations

from sqlalchemy import Connection, update

from ..checkpoint import NoteSignature, add_signatures
from ..errors import StoreError
from .reader import LedgerReader, StoredCheckpoint
from .tables import ledger_checkpoints

_ATTEMPTS = 8


def add_cosignatures(connection: Connection, size: int, signatures: list[NoteSignature]) -> StoredCheckpoint:
    """Add ``signatures`` (already verified) to the stored checkpoint of ``size``.

    A line replaces an older one of the same key (a witness cosigns a size
    again with a newer time).  Compare-and-set on the whole note, so two
    servers adding different witnesses' lines at once both keep theirs.
    """
    reader = LedgerReader(connection)
    for _ in range(_ATTEMPTS):
        current = reader.checkpoint(size)
        if current is None:
            raise StoreError(f"there is no stored checkpoint of size {size}")
        note = add_signatures(current.note, signatures)
        if note == current.note:
            return current
        changed = connection.execute(
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.size == size, ledger_checkpoints.c.note == current.note)
            .values(note=note)
        )
        if changed.rowcount == 1:
            return current._replace(note=note)
    raise StoreError(f"the checkpoint of size {size} kept changing while cosignatures were added")
