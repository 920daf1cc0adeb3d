"""Cutting checkpoints: signing the committed log's root and storing the note."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from ..checkpoint import CheckpointPolicy, NoteSigning, add_signatures, sign_checkpoint, split_note
from ..errors import StoreError
from .reader import LedgerReader, StoredCheckpoint
from .sql import insert_ignoring_conflicts
from .tables import ledger_checkpoints


def cut_checkpoint(
    connection: Connection,
    signer: NoteSigning | Sequence[NoteSigning],
    origin: str,
    now: datetime,
    policy: CheckpointPolicy | None = None,
) -> StoredCheckpoint | None:
    """Sign and store a checkpoint of the committed log, if one is due.

    Returns the new checkpoint, or the latest stored one when nothing was
    cut (the size did not change, or ``policy`` says not yet); ``None`` if
    there is none at all.  Never re-signs an unchanged size.  Two cutters
    racing on one size store one row (Ed25519 is deterministic, so both
    signed the same note).

    Several signers each add their line (in order): during a handover of the checkpoint key
    the current key and the one it replaced both sign (docs/ledger.md, "Key rotation").
    """
    if now.tzinfo is None:
        raise StoreError("cut_checkpoint needs a timezone-aware time")
    reader = LedgerReader(connection)
    head = reader.head()
    latest = reader.latest_checkpoint()
    if latest is not None and head.size <= latest.size:
        return latest
    if policy is not None and not policy.due(
        head.size,
        latest.size if latest else None,
        latest.time if latest else None,
        now,
    ):
        return latest
    root = head.frontier.root()
    signers = list(signer) if isinstance(signer, Sequence) else [signer]
    note = sign_checkpoint(signers[0], origin, head.size, root)
    for other in signers[1:]:
        note = add_signatures(note, split_note(sign_checkpoint(other, origin, head.size, root))[1])
    insert_ignoring_conflicts(
        connection,
        ledger_checkpoints,
        {"size": head.size, "root": root, "note": note, "time": now.astimezone(UTC)},
    )
    return reader.checkpoint(head.size)
