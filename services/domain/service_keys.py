"""The record of the service's own signing keys (public halves) and the signer that follows it.

The table `service_signing_keys` says which key of a purpose is current, since when, which are
retired or revoked, and carries each later key's endorsement (crypto/key_chain.py). A rotation
writes it in one transaction with its ledger entry, *before* the key provider promotes the staged
key; a running server signs with the provider's current key once that key is the one the table
names current (`FollowingSigner`), so every worker and replica moves within about a second.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta

import nacl.signing
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from consentry.services.clock import now_ns, rfc3339
from consentry.services.crypto.errors import CryptoError
from consentry.services.crypto.key_chain import Endorsement, endorse, fingerprint, rotation_statement
from consentry.services.crypto.key_provider import KeyProvider, signer_key_id
from consentry.services.errors import ConsentryError, FailedPrecondition, NotFound
from consentry.services.signer import Ed25519Signer, HasSignature
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import ServiceSigningKey

FOLLOW_EVERY_S = 1.0  # how often a signer looks for a rotation: the bound on how long it lags


def register_current(db: Database, purpose: str, public_key: bytes) -> None:
    """At start: the provider's current key is in the record (the first key, or one a rotation
    made before this table existed). A key already recorded is left as it is: after a crash
    between a rotation's commit and its promotion, the table is ahead of the provider."""
    key_id = signer_key_id(public_key)
    with contextlib.suppress(IntegrityError):  # a replica starting beside this one registered it first
        _register(db, purpose, key_id, public_key)


def _register(db: Database, purpose: str, key_id: str, public_key: bytes) -> None:
    with db.write() as s:
        if s.get(ServiceSigningKey, (purpose, key_id)) is not None:
            return
        now, rows = now_ns(), _rows(s, purpose)
        for row in rows:
            if row.status == "current":
                row.status, row.retired_ns = "retired", now
        # The first key recorded is valid from the start: it signed everything before the record.
        s.add(ServiceSigningKey(purpose=purpose, key_id=key_id, public_key=bytes(public_key), status="current",
                                valid_from_ns=now if rows else 0))


def record_rotation(s: Session, trail: AuditTrail, purpose: str, old: Ed25519Signer, new: Ed25519Signer,
                    actor: str = "operator") -> ServiceSigningKey:
    """Makes `new` the current key of `purpose`, endorsed by `old` (the current one) and by itself,
    and ledgers it; a rotation already recorded is returned as it is (a re-run after a crash)."""
    old_key, new_key = bytes(old.verify_key), bytes(new.verify_key)
    old_id, new_id = signer_key_id(old_key), signer_key_id(new_key)
    done = s.get(ServiceSigningKey, (purpose, new_id))
    if done is not None:
        return done
    previous = s.get(ServiceSigningKey, (purpose, old_id))
    if previous is None or previous.status != "current":
        raise FailedPrecondition(f"{purpose} key {old_id} is not the current key in the record")
    now = now_ns()
    endorsement = endorse(rotation_statement(purpose, old_key, new_key, _utc(now)), old, new)
    previous.status, previous.retired_ns = "retired", now
    row = ServiceSigningKey(purpose=purpose, key_id=new_id, public_key=new_key, status="current", valid_from_ns=now,
                            statement=endorsement.statement, old_signature=endorsement.old_signature,
                            new_signature=endorsement.new_signature)
    s.add(row)
    trail.append(s, "key.service_key_rotated", actor, purpose=purpose, old_key_id=old_id,
                 old_fingerprint=fingerprint(old_key), new_key_id=new_id, new_fingerprint=fingerprint(new_key))
    return row


def revoke(s: Session, trail: AuditTrail, purpose: str, key_id: str, revoked_from_ns: int,
           actor: str = "operator") -> ServiceSigningKey:
    """Marks a key revoked from `revoked_from_ns` and ledgers it. The current key is refused: rotate
    first (keys/share_signing.py does), so a revoked key never signs."""
    row = s.get(ServiceSigningKey, (purpose, key_id))
    if row is None:
        raise NotFound(f"no {purpose} key {key_id} in the record")
    if row.status == "current":
        raise FailedPrecondition(f"{purpose} key {key_id} is current; rotate it first")
    if row.status == "revoked" and row.revoked_from_ns is not None and row.revoked_from_ns <= revoked_from_ns:
        return row  # already revoked from then or earlier
    row.status, row.revoked_from_ns = "revoked", revoked_from_ns
    trail.append(s, "key.service_key_revoked", actor, purpose=purpose, key_id=key_id,
                 fingerprint=fingerprint(row.public_key), revoked_from=rfc3339(revoked_from_ns))
    return row


def listing(s: Session, purpose: str) -> list[ServiceSigningKey]:
    """Every key of `purpose`, oldest first."""
    return _rows(s, purpose)


def current_key_id(db: Database, purpose: str) -> str | None:
    with db.read() as s:
        return s.scalar(select(ServiceSigningKey.key_id).where(ServiceSigningKey.purpose == purpose,
                                                               ServiceSigningKey.status == "current"))


def endorsement_of(row: ServiceSigningKey) -> Endorsement | None:
    if row.statement is None or row.old_signature is None or row.new_signature is None:
        return None
    return Endorsement(row.statement, row.old_signature, row.new_signature)


class FollowingSigner:
    """The provider's key `name`, followed across rotations without a restart.

    At most every FOLLOW_EVERY_S it reads which key the record names current; when that is not the
    key it holds, it takes the provider's current key (resolved afresh: by file, or by label in a
    token) if that is the one named, and otherwise keeps signing with the key it has, which stays
    valid for what it signs, until the promotion is done. A caller that names the key and then
    signs takes `current()` once (services/signer.py `one_key`)."""

    def __init__(self, db: Database, keys: KeyProvider, name: str, purpose: str) -> None:
        self._db, self._keys, self._name, self._purpose = db, keys, name, purpose
        self._signer = keys.signer(name)
        self._key_id = signer_key_id(bytes(self._signer.verify_key))
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return self.current().verify_key

    def sign(self, message: bytes) -> HasSignature:
        return self.current().sign(message)

    def current(self) -> Ed25519Signer:
        """The key to sign with now (services/signer.py `one_key`: name a key, then sign with it)."""
        return self._follow()

    def _follow(self) -> Ed25519Signer:
        if time.monotonic() - self._checked < FOLLOW_EVERY_S or not self._lock.acquire(blocking=False):
            return self._signer
        try:
            self._checked = time.monotonic()
            wanted = current_key_id(self._db, self._purpose)
            if wanted is not None and wanted != self._key_id:
                candidate = self._keys.signer(self._name)
                if signer_key_id(bytes(candidate.verify_key)) == wanted:
                    self._signer, self._key_id = candidate, wanted
        except (CryptoError, ConsentryError, SQLAlchemyError, OSError):
            pass  # a token mid-relabel, a key file being replaced, a busy database: look again later
        finally:
            self._lock.release()
        return self._signer

    def __repr__(self) -> str:
        return f"FollowingSigner({self._name!r}, {self._key_id})"


def _rows(s: Session, purpose: str) -> list[ServiceSigningKey]:
    return list(s.scalars(select(ServiceSigningKey).where(ServiceSigningKey.purpose == purpose)
                          .order_by(ServiceSigningKey.valid_from_ns, ServiceSigningKey.key_id)))


def _utc(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
