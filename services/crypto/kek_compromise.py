"""A KEK rotation that helps after a compromise: `consentry keys rotate kek-compromise`.

A plain rotation (kek_rotation.py) rewraps the same data keys, so whoever holds the old KEK and
any copy of the database made before can still open every body as it is now: the data key they
unwrap from the old copy still decrypts the current ciphertext. This rotation instead:

1. promotes a new KEK (kek_rotation.promote_new_kek), unless resuming one it started;
2. moves the KEK fence to it (kek_fence.py) and notes the rotation in progress
   (``service_state`` ``kek.compromise``), so no server still holding the old KEK stores a key
   it wraps, and a rerun resumes instead of promoting yet another KEK;
3. re-seals every live body, sealed text and emergency note not under the new KEK: opened, sealed
   again under a fresh data key wrapped by the new KEK, in small batches, each its own write
   transaction, compare-and-set on the row (kek_rotation.rewrap_all with ``reseal``). Online and
   resumable like a rewrap; ledgered once at the start and once at the end, with
   ``"compromise": true``, never per record.

Afterwards the old KEK and an old copy of the database together open nothing as it is now. The
old KEK file is shredded by `consentry keys retire-kek` once the grace period has run.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.services.crypto import kek_fence
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.crypto.kek_rotation import (
    DEFAULT_BATCH,
    NEXT_KEK_FILE,
    Promotion,
    RewrapReport,
    current_kek_id,
    promote_new_kek,
    rewrap_all,
)
from consentry.services.crypto.key_provider import KeyProvider
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database


@dataclass(frozen=True)
class CompromiseRotation:
    promotion: Promotion | None  # None: an unfinished compromise rotation was resumed
    report: RewrapReport


def in_progress(db: Database) -> str | None:
    """The KEK an unfinished compromise rotation re-seals under, if one is unfinished."""
    with db.read() as s:
        return kek_fence.get_value(s, kek_fence.COMPROMISE)


def rotate_after_compromise(keys: KeyProvider, db: Database, kek: KeyEncryptionKeyProvider, trail: AuditTrail, *,
                            actor: str = "operator", batch_size: int = DEFAULT_BATCH) -> CompromiseRotation:
    """Steps 1-3 above. `kek` is the service's KEK provider over `keys` (each record's wrapped key
    shielded under its record key, as the server has it)."""
    resuming = in_progress(db)
    promotion = None
    if resuming is None or resuming != current_kek_id(keys) or (keys.data_dir / NEXT_KEK_FILE).exists():
        promotion = promote_new_kek(keys)
    new = current_kek_id(keys)
    with db.write() as s:
        kek_fence.move(s, new)
        kek_fence.set_value(s, kek_fence.COMPROMISE, new)
    report = rewrap_all(db, kek, trail, actor=actor, batch_size=batch_size, reseal=True)
    if report.finished:
        with db.write() as s:
            kek_fence.set_value(s, kek_fence.COMPROMISE, None)
    return CompromiseRotation(promotion, report)
