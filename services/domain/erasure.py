"""Erasing a record: its body and wrapped data key destroyed, the row unlinked from the patient,
its deposit entries redacted, the erasure ledgered.

The holder erases its own records; the patient, or a proxy with the manage-consents scope,
erases one where the policy allows (action "erase", policy/data/erasure.json). To anyone else a
record id answers exactly as one that does not exist (NOT_FOUND).

What remains, and why (docs/erasure.md): the row's id, holder, resource type and times, so the
holder can account for what it filed and erased; the `record.erased` entry, which names the
record and the patient's pseudonym; the tombstones of the `record.deposited` entries. The
caller destroys the record's own key once the transaction has committed (`at_rest.
destroy_record_key`), so a copy of the database made before cannot decrypt the body either.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from consentry.ledger import is_salted
from consentry.ledger.db import LedgerReader
from consentry.policy.engine import UNAVAILABLE, PolicyEngine
from consentry.services import clock
from consentry.services.crypto import at_rest, record_keys
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain import policy_input
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from consentry.services.identity.acting_for import MANAGE_CONSENTS, about_enrolled, acting_for_owner
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import ERASURE, AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import LedgerSubject, Record, RightsRequest

NOT_HELD = "this institution holds no record with this id"
NO_RECORD = "no record with this id"
# What an erased record's row holds in place of its patient: no id is empty (limits.py).
ERASED_PATIENT = ""
# Where an erasure deletes or overwrites: what `Database.shred` cleans after it.
TOUCHED_TABLES = ("records", "ledger_entries", "ledger_subjects", "patient_pseudonym_keys")


def erase(s: Session, trail: AuditTrail, policy: PolicyEngine, principal: Principal,
          record_id: str) -> tuple[Record, int]:
    """Erases the record for `principal`; returns the row and the seq of its "record.erased" entry."""
    # The ledger writer first, as in a fetch: concurrent erasures of one record serialise,
    # so exactly one of them erases and ledgers.
    trail.writer(s)
    row = s.get(Record, record_id)
    if principal.kind == "org":
        if row is None:
            raise NotFound(NOT_HELD)
        if row.holder != principal.name:
            raise about_enrolled(s, NotFound(NOT_HELD), row.patient_id)
        by, ledgered = "holder", {}
    else:
        if row is None or row.erased_ns is not None:  # an erased record belongs to no one
            raise NotFound(NO_RECORD)
        acting_for_owner(s, row.patient_id, MANAGE_CONSENTS, NO_RECORD)  # the patient or their proxy
        by = "patient" if principal.name == row.patient_id else "proxy"
    if row.erased_ns is not None:
        raise FailedPrecondition("the record is already erased")
    if by != "holder":
        ledgered = _erasure_decision(s, trail, policy, row, by)
    seq = trail.append(s, "record.erased", principal.id, patient_id=row.patient_id,
                       record=row.record_id, erased_by=by,
                       on_behalf_of="patient" if by == "proxy" else None,
                       role=principal.role or None, practitioner=principal.practitioner or None,
                       **ledgered)
    _redact_deposit(s, trail, principal, row)
    _scrub(row)
    _forget_texts(s, row.record_id)
    return row, seq


def _redact_deposit(s: Session, trail: AuditTrail, principal: Principal, row: Record) -> None:
    """Tombstones the record's `record.deposited` entries, which carry its category and labels."""
    pseudonym = trail.known_pseudonym(s, row.patient_id)
    if pseudonym is None:
        return
    seqs = s.scalars(select(LedgerSubject.seq).where(
        LedgerSubject.pseudonym == pseudonym, LedgerSubject.kind == "record.deposited")).all()
    deposited = [e.seq for e in LedgerReader(s.connection()).entries_at(seqs)
                 if is_salted(e.entry) and json.loads(e.entry).get("record") == row.record_id]
    trail.redact(s, deposited, ERASURE, principal.id)


def _scrub(row: Record) -> None:
    """Leaves the row nothing that names the patient or describes the content. The content hash
    goes too: it could confirm a guess of the body the erasure destroyed."""
    row.ciphertext, row.wrapped_key, row.content_hash, row.erased_ns = None, None, None, clock.now_ns()
    row.patient_id, row.category, row.labels, row.label_reasons, row.effective_ns = ERASED_PATIENT, "", [], None, None
    row.meta_version += 1  # no body is left to re-seal; a restored copy of the old one no longer opens


def _forget_texts(s: Session, record_id: str) -> None:
    """A correction's text and its answer speak of the erased content, so they go with it; the
    request itself (type, dates, status) stays in the patient's tracker."""
    s.execute(update(RightsRequest).where(RightsRequest.record_id == record_id)
              .values(correction_text=None, explanation=None))


def _erasure_decision(s: Session, trail: AuditTrail, policy: PolicyEngine, row: Record, by: str) -> dict:
    """Asks the policy whether `by` ("patient" or "proxy") may erase `row`; raises unless it may."""
    [decision] = policy.decide([policy_input.erasure(s, by, trail, row, clock.now_ns())])
    if not decision.allow:
        if any(r.startswith(UNAVAILABLE) for r in decision.reasons):
            raise Unavailable("the policy engine could not decide; nothing was erased")
        # The caller is the patient or their proxy (acting_for_owner), so the entry may name them.
        raise PermissionDenied("the policy does not let you erase this record",
                               decision.reasons).about(row.patient_id, acting_for=True)
    return {"decision_id": str(uuid.uuid4()), "policy_revision": policy.revision, "reasons": list(decision.reasons)}


def destroy_leftover_keys(db: Database, kek: KeyEncryptionKeyProvider) -> int:
    """Destroys the record key of every erased record that still has one (a server stopped
    between an erasure's commit and the key's destruction); returns how many. Run at start."""
    with db.read() as s:
        erased = s.scalars(select(Record.record_id).where(Record.erased_ns.is_not(None))).all()
    return sum(at_rest.destroy_record_key(record_id, kek) for record_id in erased)


def keyed_records(connection: Connection, *, latest: int | None = None) -> list[str]:
    """The live records whose body needs a record key (record-keys/), newest first (only the
    `latest` newest with `latest`); those stored before shielding need none."""
    query = (select(Record.record_id, Record.wrapped_key)
             .where(Record.erased_ns.is_(None), Record.wrapped_key.is_not(None))
             .order_by(Record.created_ns.desc()).limit(latest))
    return [record_id for record_id, wrapped in connection.execute(query).yield_per(1000)
            if wrapped is not None and record_keys.needs_key(wrapped)]


def check_record_keys(db: Database, directory: Path, sample: int = 100) -> None:
    """Refuses to start (FileNotFoundError) when none of the latest `sample` live records finds
    its key in `directory`: the `record-keys/` directory is missing or not the deployment's (a
    volume not mounted). A few records without a key (erased after the backup a server was
    restored from) are withheld one by one instead (disclosure.KEY_GONE)."""
    with db.read() as s:
        keyed = keyed_records(s.connection(), latest=sample)
    if keyed and not any(record_keys.has_key(directory, record_id) for record_id in keyed):
        raise FileNotFoundError(
            f"{directory} holds the key of none of the latest {len(keyed)} records: it is missing or another "
            "directory (a volume not mounted?); mount or restore it (docs/operations.md, \"Restore\")")
