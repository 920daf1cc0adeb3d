"""Per-patient pseudonym keys: the ledger names each patient by an HMAC under a key of their own.

With one service-wide key, whoever held it and a list of candidate ids re-identified every entry,
and destroying it would have broken every patient's history. A key per patient makes the link
erasable one patient at a time: `destroy` deletes the key, after which nothing the service keeps
computes that patient's pseudonym, and no other patient's entries change.

A key is made the first time an entry names the patient, after the ledger's tail lock is held,
so two transactions never make two keys for one patient. Reads never make one: a patient the
ledger has never named has no pseudonym and no history.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from consentry.ledger.pseudonym import patient_pseudonym
from consentry.services.clock import now_ns
from consentry.services.store.db import Database
from consentry.services.store.models import LedgerSubject, PatientPseudonymKey

KEY_BYTES = 32
_CACHE = "consentry.pseudonym_keys"


def key_of(s: Session, patient_id: str) -> bytes | None:
    """The patient's key, or None when the ledger has never named them (or their key was destroyed)."""
    cache = s.info.setdefault(_CACHE, {})
    if patient_id not in cache:
        cache[patient_id] = s.scalar(select(PatientPseudonymKey.key).where(
            PatientPseudonymKey.patient_id == patient_id))
    return cache[patient_id]


def ensure_key(s: Session, patient_id: str) -> bytes:
    """The patient's key, made now if they have none. The caller holds the ledger's tail lock."""
    key = key_of(s, patient_id)
    if key is None:
        key = secrets.token_bytes(KEY_BYTES)
        row = s.get(PatientPseudonymKey, patient_id)
        if row is None:
            s.add(PatientPseudonymKey(patient_id=patient_id, key=key, created_ns=now_ns()))
        else:  # a patient from before per-patient keys whose start-up adoption has not run
            row.key = key
        s.info[_CACHE][patient_id] = key
    return key


def pseudonym_of(s: Session, patient_id: str) -> str | None:
    """The patient's ledger pseudonym if they have a key, else None."""
    key = key_of(s, patient_id)
    return patient_pseudonym(key, patient_id) if key is not None else None


def destroy(s: Session, patient_id: str) -> bool:
    """Deletes the patient's key and their history index; True if there was a key.

    Entries already written keep the old pseudonym, which nothing can recompute any more; a later
    entry about the patient gets a fresh key, unlinkable to the old one."""
    old = pseudonym_of(s, patient_id)
    if old is not None:
        s.execute(delete(LedgerSubject).where(LedgerSubject.pseudonym == old))
    deleted = s.execute(delete(PatientPseudonymKey).where(PatientPseudonymKey.patient_id == patient_id))
    s.info.setdefault(_CACHE, {}).pop(patient_id, None)
    return bool(getattr(deleted, "rowcount", 0))


def adopt_service_wide(db: Database, service_key: bytes) -> int:
    """Gives every patient from before per-patient keys (key NULL) a key of their own, and moves
    their history index from the service-wide pseudonym to the new one; returns how many.

    Their entries written before stay under the service-wide pseudonym (docs/erasure.md); the
    index joins both for the patient. Runs when the server starts, since migrations do not read
    the service secret; each patient in their own transaction, so a crash leaves no half."""
    adopted = 0
    while True:
        with db.write() as s:
            patient_id = s.scalar(select(PatientPseudonymKey.patient_id).where(
                PatientPseudonymKey.key.is_(None)).limit(1))
            if patient_id is None:
                return adopted
            key = secrets.token_bytes(KEY_BYTES)
            s.execute(update(LedgerSubject).where(
                LedgerSubject.pseudonym == patient_pseudonym(service_key, patient_id)).values(
                pseudonym=patient_pseudonym(key, patient_id)))
            s.execute(update(PatientPseudonymKey).where(
                PatientPseudonymKey.patient_id == patient_id).values(key=key))
            adopted += 1
