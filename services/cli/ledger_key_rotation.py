"""Rotating, retiring and revoking the ledger checkpoint key (docs/ledger.md, "Key rotation").

`rotate`: stage a new key, promote it (the old one is kept, retired), then append the
`ledger.key_rotated` entry whose statement the old key signs, and cut a checkpoint. From the
promotion on, every checkpoint carries both signatures (cli/datadir.py `LedgerSigners`, read again
at each cut, so running servers follow without a restart), so each checkpoint covering the
rotation entry is signed by both keys. A crash anywhere is finished by running the command again:
a half-done promotion is completed, and a retired key no rotation entry hands over from gets its
entry before anything new is staged.

`retire`: destroys the retired key once a stored checkpoint covering its rotation entry is signed
by both keys (the handover is over). `revoke`: ledgers that a key is not trusted from a time on,
signed by the current key, and destroys the key if it is still kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consentry.ledger import (
    REVOKED_KIND,
    ROTATED_KIND,
    LedgerError,
    NoteVerifier,
    open_note,
    revocation_fields,
    rotation_fields,
)
from consentry.ledger.db import LedgerReader, StoredCheckpoint, cut_checkpoint
from consentry.services import clock
from consentry.services import config as cfg
from consentry.services.cli.datadir import LedgerSigners, note_signer
from consentry.services.config import Settings
from consentry.services.crypto.key_provider import KeyProvider, key_provider, pseudonym_secret, signer_key_id
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database

NAME = cfg.LEDGER_SIGNING_KEY
_ROTATED = b'"kind":"%s"' % ROTATED_KIND.encode()
_PAGE = 1000


class Refused(Exception):
    """The command cannot do that now; the message says why and what to do."""


@dataclass(frozen=True)
class Rotation:
    """A `ledger.key_rotated` entry as stored."""

    seq: int
    old_key: str
    new_key: str


@dataclass(frozen=True)
class Rotated:
    old_key: str
    new_key: str
    seq: int
    finished_interrupted: bool
    checkpoint: StoredCheckpoint | None


class LedgerKeyJob:
    """What every ledger-key command needs: settings, database, trail and key provider."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.keys: KeyProvider = key_provider(settings)
        self.trail = AuditTrail(pseudonym_secret(self.keys))
        self.origin = settings.ledger_origin

    def verifier(self, key: object) -> NoteVerifier:
        return note_signer(self.settings, key).verifier  # type: ignore[arg-type]

    def rotations(self) -> list[Rotation]:
        """Every `ledger.key_rotated` entry, in order: a scan of the ledger (rotations are rare)."""
        found: list[Rotation] = []
        start = 0
        while True:
            with self.db.read() as s:
                page = LedgerReader(s.connection()).entries(start, _PAGE)
            for stored in page:
                if _ROTATED in stored.entry:
                    entry = json.loads(stored.entry)
                    if entry.get("kind") == ROTATED_KIND:
                        found.append(Rotation(stored.seq, entry["old_key"], entry["new_key"]))
            if len(page) < _PAGE:
                return found
            start = page[-1].seq + 1

    def cut(self) -> StoredCheckpoint | None:
        with self.db.write() as s:
            return cut_checkpoint(s.connection(), LedgerSigners(self.settings)(), self.origin, clock.now_utc())

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.db.read() as s:
            return LedgerReader(s.connection()).latest_checkpoint()


def rotate(job: LedgerKeyJob) -> Rotated:
    """Rotate the checkpoint key, or finish the rotation a crash interrupted."""
    keys = job.keys
    current = keys.signer(NAME) if keys.has_signer(NAME) else None
    retired = keys.retired_signers(NAME)
    if current is None or any(bytes(r.verify_key) == bytes(current.verify_key) for r in retired.values()):
        keys.promote_signer(NAME)  # a promotion cut short: finish it (the staged key is the new one)
        current, retired = keys.signer(NAME), keys.retired_signers(NAME)
    announced = {r.old_key for r in job.rotations()}
    unannounced = [r for r in retired.values() if job.verifier(r).to_key() not in announced]
    interrupted = bool(unannounced)
    if not interrupted:
        keys.stage_signer(NAME)
        promotion = keys.promote_signer(NAME)
        assert promotion.old is not None  # the ledger key exists since `consentry init`
        current = keys.signer(NAME)
        unannounced = [keys.retired_signers(NAME)[signer_key_id(promotion.old)]]
    new = job.verifier(current)
    seq = -1
    for old_key in unannounced:
        old = note_signer(job.settings, old_key)
        with job.db.write() as s:
            seq = job.trail.append(s, ROTATED_KIND, "operator",
                                   **_fields(rotation_fields(old, new, job.origin, clock.now_rfc3339())))
    return Rotated(note_signer(job.settings, unannounced[-1]).verifier.to_key(), new.to_key(), seq,
                   interrupted, job.cut())


def retire(job: LedgerKeyJob, key_id: str | None = None) -> list[str]:
    """Destroy retired checkpoint keys whose handover is over; returns the verifier keys destroyed.

    Over means: the latest stored checkpoint covers the key's rotation entry and carries both its
    signature and the current key's. Refused (Refused) otherwise.
    """
    current = job.verifier(job.keys.signer(NAME))
    retired = job.keys.retired_signers(NAME)
    if key_id is not None:
        if key_id not in retired:
            raise Refused(f"no retired ledger key {key_id}; kept: {', '.join(sorted(retired)) or 'none'}")
        retired = {key_id: retired[key_id]}
    rotations = {r.old_key: r for r in job.rotations()}
    for kid, key in sorted(retired.items()):
        if job.verifier(key).to_key() not in rotations:
            raise Refused(f"retired ledger key {kid} has no ledger.key_rotated entry yet; "
                          "run `consentry keys rotate ledger` again to finish its rotation")
    latest = job.latest_checkpoint()
    done: list[str] = []
    for kid, key in sorted(retired.items()):
        old = job.verifier(key)
        rotation = rotations[old.to_key()]
        if latest is None or latest.size <= rotation.seq or not _signed_by_both(latest.note, old, current):
            raise Refused(f"the handover from ledger key {kid} is not over: no checkpoint covering its "
                          f"rotation entry {rotation.seq} is signed by both keys yet; try again after "
                          "the next checkpoint")
        job.keys.destroy_retired_signer(NAME, kid)
        done.append(old.to_key())
    return done


def revoke(job: LedgerKeyJob, key: str, revoked_from: str) -> tuple[int, str]:
    """Ledger that checkpoint key `key` (its note key id in hex, or its verifier key) is not
    trusted from `revoked_from` (RFC 3339) on; destroy it if still kept. Returns (seq, verifier key)."""
    current = note_signer(job.settings, job.keys.signer(NAME))
    known = {r.old_key for r in job.rotations()}
    matches = [vkey for vkey in known if key in (vkey, NoteVerifier.from_key(vkey).key_id.hex())]
    if key in (current.verifier.to_key(), current.verifier.key_id.hex()):
        raise Refused("that is the current ledger key: rotate it first (`consentry keys rotate ledger`), "
                                 "then revoke the old one")
    if len(matches) != 1:
        ids = sorted(NoteVerifier.from_key(k).key_id.hex() for k in known)
        raise Refused(f"{key!r} names no ledger key this ledger rotated away from "
                              f"(known: {', '.join(ids) or 'none'})")
    revoked = NoteVerifier.from_key(matches[0])
    when = _rfc3339(revoked_from)
    with job.db.write() as s:
        seq = job.trail.append(s, REVOKED_KIND, "operator",
                               **_fields(revocation_fields(current, revoked, when, job.origin, clock.now_rfc3339())))
    for kid, kept in job.keys.retired_signers(NAME).items():
        if job.verifier(kept) == revoked:
            job.keys.destroy_retired_signer(NAME, kid)  # a compromised key signs nothing more here
    job.cut()
    return seq, revoked.to_key()


def _fields(fields: dict[str, str]) -> dict[str, Any]:
    return fields


def _signed_by_both(note: str, old: NoteVerifier, new: NoteVerifier) -> bool:
    try:
        open_note(note, old)
        open_note(note, new)
    except LedgerError:
        return False
    return True


def _rfc3339(text: str) -> str:
    """An instant as the ledger writes times (RFC 3339, UTC, `Z`); a time without a zone is refused."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"--from {text!r} is not an RFC 3339 time, e.g. 2026-11-30T12:00:00Z") from None
    if when.tzinfo is None:
        raise Refused(f"--from {text!r} needs a time zone (e.g. Z for UTC)")
    return clock.rfc3339(int(when.astimezone(UTC).timestamp() * 1_000_000_000))
