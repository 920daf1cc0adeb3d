"""KEK rotation: a new key-encryption key, every record's data key rewrapped, old KEKs retired.

File layout in the data directory (every file 0600, format of keyfiles.py, kind ``secret``)::

    kek.key             the current KEK: every new data key is wrapped by it
    kek-<kek id>.key    a retired KEK, still loaded for unwrapping until no record uses it
    kek.next.key        transient: a new KEK generated but not yet promoted (a crash left it)

The running server reads these through ``DirectoryKekProvider``, which notices a promoted
``kek.key`` on its next wrap (one ``stat`` per wrap) and rereads the directory whenever it meets a
wrapped key naming a KEK it does not hold. So the steps below work against a running server on
the same database and data directory, and nothing has to restart:

1. ``promote_new_kek``: generate ``kek.next.key``; hard-link the current ``kek.key`` to
   ``kek-<its id>.key``; atomically rename ``kek.next.key`` over ``kek.key``. Every step is
   idempotent, so re-running after a crash anywhere finishes the promotion; no key is ever lost
   (the old KEK exists under its retired name before ``kek.key`` is replaced).
2. ``rewrap_all``: rewrap data keys in small batches, each batch its own write transaction, so the
   server keeps serving between them. The ciphertext of a version-2 body is never read or
   written; a version-1 body (at_rest.py, ``meta_version`` 0) is re-sealed as version 2 under a
   fresh data key, and so is every body in a compromise rotation. A record
   whose wrapped key already names the current KEK is skipped (``needs_rewrap``), so a crashed job
   is simply run again. Erased records (no wrapped key) are skipped. A batch updates a row only if
   its wrapped key is still the one it read (compare-and-set), so a record erased or rewrapped
   concurrently is never resurrected or clobbered.
3. ``retire_keks``: shred retired KEK files (overwrite, unlink, sync the directory), but only
   when no live record's wrapped key names them and the grace period since the last rotation
   (``kek_fence.rotated_ns``) has run; otherwise refuse and change nothing.

A rotation run by `consentry keys rotate kek` also moves the KEK fence (kek_fence.py) to the new
KEK, so a replica still holding the old ``kek.key`` can store nothing it wraps. After a
compromise (``consentry keys rotate kek-compromise``, kek_compromise.py) step 2 re-seals every
body, sealed text and note under a fresh data key instead of rewrapping the old one.

The ledger gets one entry when a rewrap job starts, one when it finishes, and one per retired
KEK — never one per record.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.config import KEK_FILE
from consentry.services.crypto import at_rest, kek_fence, keyfiles, sealed_text
from consentry.services.crypto.errors import KeyFileError
from consentry.services.crypto.kek import (
    KeyEncryptionKeyProvider,
    LocalKekProvider,
    kek_id_for,
    needs_rewrap,
    wrapped_key_id,
)
from consentry.services.crypto.key_provider import SECRET_PURPOSES, KeyProvider
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import EmergencyAccess, Record

log = logging.getLogger("consentry.kek")

NEXT_KEK_FILE = "kek.next.key"
_RETIRED_RE = re.compile(r"^kek-(local-[0-9a-f]{16})\.key$")
DEFAULT_BATCH = 200
_PURPOSE = SECRET_PURPOSES[KEK_FILE]  # what every KEK file is sealed for under a token


def retired_kek_name(kek_id: str) -> str:
    return f"kek-{kek_id}.key"


# --- the files --------------------------------------------------------------------------------


def retired_kek_files(keys: KeyProvider) -> dict[str, Path]:
    """kek id -> path of every retired KEK file in the data directory (the id is checked against
    the key)."""
    out = {}
    for path in sorted(keys.data_dir.glob("kek-*.key")):
        m = _RETIRED_RE.fullmatch(path.name)
        if m is None:
            continue
        key = keys.load_secret(path, _PURPOSE)
        if kek_id_for(key) != m.group(1):
            raise KeyFileError(f"{path} holds a different KEK than its name says")
        out[m.group(1)] = path
    return out


def load_kek_directory(keys: KeyProvider) -> LocalKekProvider:
    """The current KEK (kek.key) plus every retired one (kek-<id>.key) for unwrapping."""
    current = keys.load_secret(keys.data_dir / KEK_FILE, _PURPOSE)
    previous = [keys.load_secret(p, _PURPOSE) for p in retired_kek_files(keys).values()]
    return LocalKekProvider(current, previous)


def current_kek_id(keys: KeyProvider) -> str:
    return kek_id_for(keys.load_secret(keys.data_dir / KEK_FILE, _PURPOSE))


@dataclass(frozen=True)
class Promotion:
    old_kek: str
    new_kek: str


def promote_new_kek(keys: KeyProvider) -> Promotion:
    """Make a freshly generated KEK current, keeping the old one as ``kek-<id>.key``.

    Crash-safe and idempotent: if ``kek.next.key`` exists (a previous run died), that key is the
    one promoted instead of generating yet another.
    """
    data_dir = keys.data_dir
    current_path, next_path = data_dir / KEK_FILE, data_dir / NEXT_KEK_FILE
    if not next_path.exists():
        keys.generate_secret(next_path, _PURPOSE)
    new = keys.load_secret(next_path, _PURPOSE)
    old = keys.load_secret(current_path, _PURPOSE)
    old_id, new_id = kek_id_for(old), kek_id_for(new)
    if old_id == new_id:  # cannot happen with a fresh random key; refuse rather than lose one
        raise KeyFileError(f"{next_path} holds the current KEK; remove it and run again")
    retired = data_dir / retired_kek_name(old_id)
    if retired.exists():
        if keys.load_secret(retired, _PURPOSE) != old:
            raise KeyFileError(f"{retired} exists and holds a different key; refusing to continue")
    else:
        os.link(current_path, retired)  # same inode, same 0600 mode; atomic; never overwrites
        keyfiles.fsync_dir(data_dir)
    os.replace(next_path, current_path)  # atomic: readers see the old or the new kek.key
    keyfiles.fsync_dir(data_dir)
    return Promotion(old_id, new_id)


class DirectoryKekProvider:
    """The service's KEK provider: ``kek.key`` is current, ``kek-<id>.key`` files are readable.

    Rereads the directory when ``kek.key`` changes (checked with one ``stat`` per wrap) and when a
    wrapped key names a KEK it does not hold, so a rotation run by `consentry keys rotate-kek`
    next to a running server takes effect without a restart. If a reload fails (a bad file), the
    keys already held stay in use and the failure is logged.
    """

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self.data_dir = keys.data_dir
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._provider = self._load()

    def _signature(self) -> tuple[int, int, int]:
        st = os.stat(self.data_dir / KEK_FILE)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> LocalKekProvider:
        stamp = self._signature()
        provider = load_kek_directory(self.keys)
        self._stamp = stamp
        return provider

    def _reload(self) -> LocalKekProvider:
        with self._lock:
            try:
                self._provider = self._load()
            except (OSError, KeyFileError, ValueError):
                log.exception("could not reload the KEK files in %s; keeping the keys already loaded", self.data_dir)
            return self._provider

    def _fresh(self) -> LocalKekProvider:
        try:
            changed = self._signature() != self._stamp
        except OSError:
            changed = False
        return self._reload() if changed else self._provider

    @property
    def key_id(self) -> str:
        return self._fresh().key_id

    @property
    def key_ids(self) -> frozenset[str]:
        return self._fresh().key_ids

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        return self._fresh().wrap(data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        provider = self._fresh()
        if wrapped_key_id(wrapped) not in provider.key_ids:
            provider = self._reload()
        return provider.unwrap(wrapped, context)

    def __repr__(self) -> str:
        return f"DirectoryKekProvider({str(self.data_dir)!r}, {self._provider!r})"


# --- the database job -------------------------------------------------------------------------


def _live_not_current(current: str) -> ColumnElement[bool]:
    """Live records to move: under another KEK, or a version-1 body (meta_version 0) to upgrade."""
    return and_(Record.wrapped_key.is_not(None),
                or_(Record.kek_id.is_(None), Record.kek_id != current, Record.meta_version == 0))


def usage_by_kek(db: Database) -> dict[str, int]:
    """kek id -> number of live (not erased) records, sealed texts (sealed_text.py) and emergency
    justifications whose data key it wraps."""
    with db.read() as s:
        rows = s.execute(select(Record.kek_id, func.count()).where(Record.wrapped_key.is_not(None))
                         .group_by(Record.kek_id)).all()
        texts = sealed_text.usage_by_kek(s)
        notes = s.execute(select(EmergencyAccess.justification_kek_id, func.count())
                          .group_by(EmergencyAccess.justification_kek_id)).all()
    used = {kid or "?": n for kid, n in rows}
    for kid, n in [*texts.items(), *notes]:
        used[kid] = used.get(kid, 0) + n
    return used


def rewrap_notes(s: Session, kek: KeyEncryptionKeyProvider, *, reseal: bool = False) -> int:
    """Moves every emergency justification to the current KEK in the caller's transaction (with
    ``reseal``, under a fresh data key)."""
    moved = 0
    for row in s.scalars(select(EmergencyAccess).where(EmergencyAccess.justification_kek_id != kek.key_id)):
        sealed = at_rest.SealedRecord(
            row.justification_ciphertext, row.justification_wrapped_key, row.justification_kek_id)
        if reseal:
            sealed = at_rest.seal_note(row.emergency_id, at_rest.open_note(row.emergency_id, sealed, kek), kek)
        else:
            sealed = at_rest.rewrap_note(row.emergency_id, sealed, kek, kek)
        row.justification_ciphertext = sealed.ciphertext
        row.justification_wrapped_key, row.justification_kek_id = sealed.wrapped_key, sealed.kek_id
        moved += 1
    return moved


@dataclass(frozen=True)
class BatchResult:
    rewrapped: int  # rows moved to the current KEK
    skipped: int  # rows already current, erased or changed concurrently
    last_record_id: str | None  # resume after this id; None when nothing was left to look at

    @property
    def exhausted(self) -> bool:
        return self.last_record_id is None


def rewrap_batch(db: Database, kek: KeyEncryptionKeyProvider, *, after: str = "",
                 batch_size: int = DEFAULT_BATCH, reseal: bool = False) -> BatchResult:
    """Rewraps up to ``batch_size`` records (by record id, after ``after``) in ONE write transaction.

    Reads and writes only ``wrapped_key`` and ``kek_id`` of a version-2 body. A version-1 body
    (meta_version 0), and with ``reseal`` (a compromise rotation) every body, is opened and sealed
    again under a fresh data key wrapped by the current KEK (at_rest.reseal_record), bound to the
    row's metadata as it is; its row is updated only if nothing of it changed meanwhile.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    current = kek.key_id
    rewrapped = skipped = 0
    with db.write() as s:
        rows = s.execute(
            select(Record.record_id, Record.wrapped_key, Record.kek_id, Record.meta_version)
            .where(Record.record_id > after, _live_not_current(current))
            .order_by(Record.record_id).limit(batch_size)
        ).all()
        for record_id, column, kek_id, meta_version in rows:
            assert column is not None  # the query selects live records only
            wrapped = bytes(column)
            if meta_version == 0 or reseal:
                done = _reseal(s, kek, record_id, wrapped)
                rewrapped, skipped = rewrapped + done, skipped + 1 - done
                continue
            if not needs_rewrap(wrapped, kek):
                skipped += 1  # the column lags the key; open_record would refuse this row: fix it
                s.execute(update(Record).where(Record.record_id == record_id, Record.wrapped_key == wrapped)
                          .values(kek_id=wrapped_key_id(wrapped)))
                continue
            sealed = at_rest.rewrap_record(record_id, at_rest.SealedRecord(b"", wrapped, kek_id or ""), kek, kek)
            # An UPDATE's result is a CursorResult; Session.execute is annotated with the base class.
            done = cast(CursorResult[Any], s.execute(
                update(Record).where(Record.record_id == record_id, Record.wrapped_key == wrapped)
                .values(wrapped_key=sealed.wrapped_key, kek_id=sealed.kek_id)
            )).rowcount
            if done == 1:
                rewrapped += 1
            else:
                skipped += 1  # erased or rewrapped by someone else meanwhile
    return BatchResult(rewrapped, skipped, rows[-1][0] if rows else None)


def _reseal(s: Session, kek: KeyEncryptionKeyProvider, record_id: str, wrapped: bytes) -> int:
    """Seals one body again under a fresh data key (version 2), compare-and-set on its wrapped key
    and metadata version; 1 if the row was updated."""
    row = s.get(Record, record_id, populate_existing=True)
    if row is None or row.wrapped_key is None or bytes(row.wrapped_key) != wrapped or row.ciphertext is None:
        return 0
    old = at_rest.RecordMeta.of(row)
    new = replace(old, meta_version=max(old.meta_version, 1))
    sealed = at_rest.reseal_record(record_id, at_rest.SealedRecord(bytes(row.ciphertext), wrapped, row.kek_id or ""),
                                   kek, old, new)
    done = cast(CursorResult[Any], s.execute(
        update(Record).where(Record.record_id == record_id, Record.wrapped_key == wrapped,
                             Record.meta_version == old.meta_version)
        .values(ciphertext=sealed.ciphertext, wrapped_key=sealed.wrapped_key, kek_id=sealed.kek_id,
                meta_version=new.meta_version)
    )).rowcount
    s.expire(row)
    return 1 if done == 1 else 0


@dataclass
class RewrapReport:
    kek: str
    rewrapped: int = 0
    batches: int = 0
    remaining: int = 0
    from_keks: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.remaining == 0


def pending(db: Database, current: str) -> dict[str, int]:
    """Live records not yet under ``current``, by the KEK that wraps them."""
    return {k: n for k, n in usage_by_kek(db).items() if k != current}


def legacy_bodies(db: Database) -> int:
    """Live records whose body is still format version 1 (at_rest.py): the next rewrap upgrades them."""
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Record).where(
            Record.wrapped_key.is_not(None), Record.meta_version == 0)) or 0


def rewrap_all(
    db: Database,
    kek: KeyEncryptionKeyProvider,
    trail: AuditTrail,
    *,
    actor: str = "operator",
    batch_size: int = DEFAULT_BATCH,
    max_passes: int = 3,
    on_batch: Callable[[BatchResult], None] | None = None,
    reseal: bool = False,
) -> RewrapReport:
    """Moves every live record to the current KEK; safe to run again after a crash or next to a
    running server. Several passes catch records deposited under an old KEK by a server that had
    not yet seen the new ``kek.key``. With ``reseal`` (a compromise rotation) every body, sealed
    text and note not under the current KEK is sealed again under a fresh data key, so the old
    KEK with any copy of the database opens none of them as they are now."""
    current = kek.key_id
    todo = pending(db, current)
    report = RewrapReport(current, from_keks=dict(todo))
    mode: dict[str, Any] = {"compromise": True} if reseal else {}
    with db.write() as s:
        trail.append(s, "key.kek_rotation_started", actor, kek=current, from_keks=sorted(todo),
                     pending=sum(todo.values()) + legacy_bodies(db), **mode)
    for _ in range(max_passes):
        after = ""
        while True:
            result = rewrap_batch(db, kek, after=after, batch_size=batch_size, reseal=reseal)
            if result.exhausted:
                break
            report.batches += 1
            report.rewrapped += result.rewrapped
            after = result.last_record_id or ""
            if on_batch is not None:
                on_batch(result)
        with db.write() as s:
            report.rewrapped += sealed_text.rewrap_texts(s, kek, reseal=reseal) + rewrap_notes(s, kek, reseal=reseal)
        report.remaining = sum(pending(db, current).values()) + legacy_bodies(db)
        if report.remaining == 0:
            break
    if report.finished:
        with db.write() as s:
            trail.append(s, "key.kek_rotation_finished", actor, kek=current, from_keks=sorted(todo),
                         rewrapped=report.rewrapped, **mode)
    return report


# --- retiring ---------------------------------------------------------------------------------


class KekInUse(Exception):
    def __init__(self, in_use: dict[str, int]) -> None:
        self.in_use = in_use
        names = ", ".join(f"{k} ({n} record{'s' if n != 1 else ''})" for k, n in sorted(in_use.items()))
        super().__init__(f"refusing to retire KEKs that still wrap data keys: {names}; "
                         f"run `consentry keys rotate-kek` to finish the rewrap first")


DEFAULT_GRACE_NS = 24 * 3600 * 1_000_000_000  # a day: replicas and in-flight work catch up first


class KekInGrace(ValueError):
    def __init__(self, wait_ns: int) -> None:
        self.wait_ns = wait_ns
        hours = wait_ns / 3600e9
        super().__init__(f"the KEK rotated too recently to retire the old one: {hours:.1f} hour(s) of the grace "
                         f"period left (a replica may still hold it); run again later, or with a shorter --grace")


def retire_keks(keys: KeyProvider, db: Database, trail: AuditTrail, kek_ids: list[str] | None = None,
                *, actor: str = "operator", grace_ns: int = DEFAULT_GRACE_NS) -> list[str]:
    """Shreds retired KEK files no live record uses. Refuses (deleting nothing) if any is in use,
    or while the grace period after the last rotation (kek_fence.rotated_ns) runs.

    ``kek_ids`` None means every retired file. The current KEK is never retired.
    """
    data_dir = keys.data_dir
    files = retired_kek_files(keys)
    current = current_kek_id(keys)
    targets = sorted(files) if kek_ids is None else list(dict.fromkeys(kek_ids))
    if current in targets:
        raise ValueError(f"{current} is the current KEK; rotate first")
    unknown = [k for k in targets if k not in files]
    if unknown:
        raise FileNotFoundError(f"no retired KEK file for {', '.join(unknown)} in {data_dir}")
    usage = usage_by_kek(db)
    in_use = {k: usage[k] for k in targets if usage.get(k)}
    if in_use:
        raise KekInUse(in_use)
    with db.read() as s:
        rotated = kek_fence.rotated_ns(s)
    if targets and rotated is not None and clock.now_ns() < rotated + grace_ns:
        raise KekInGrace(rotated + grace_ns - clock.now_ns())
    for kid in targets:
        # Ledger first: if the deletion then fails, the entry says we meant to; never the reverse.
        with db.write() as s:
            trail.append(s, "key.kek_retired", actor, kek=kid, current=current)
        shred(files[kid])
    if targets:
        keyfiles.fsync_dir(data_dir)
    return targets


def shred(path: Path) -> None:
    """Overwrites a key file with zeros, syncs it, and unlinks it (the caller syncs the directory)."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        size = os.fstat(fd).st_size
        os.write(fd, bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
