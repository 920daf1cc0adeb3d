"""Signed consent receipts, re-derived from the consent version and its ledger entry.

Nothing is stored for a receipt: its statement is a function of the consent version (immutable
once written) and of the change's ledger entry (immutable, its leaf fixed in the Merkle tree),
and Ed25519 signs deterministically. So the receipt a change's response carries, the one
`ListConsentReceipts` returns later and the one an idempotent retry returns are the same bytes.
docs/receipts.md specifies the statement.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import LedgerReader
from consentry.services.clock import rfc3339
from consentry.services.crypto.receipts import FORMAT, key_id, sign_statement
from consentry.services.signer import Ed25519Signer, one_key
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Consent, LedgerSubject
from consentry.v1 import consent_pb2 as pb

# The ledger kinds of a consent change a receipt states.
KINDS = ("consent.granted", "consent.narrowed", "consent.revoked")


def receipt(signer: Ed25519Signer, row: Consent, seq: int, entry_bytes: bytes, leaf_hash: bytes) -> pb.ConsentReceipt:
    """The signed receipt of the change ledgered at `seq` (`entry_bytes`, its leaf `leaf_hash`)
    that made, or revoked, the consent version `row`."""
    entry = json.loads(entry_bytes)
    signer = one_key(signer)  # the key named in the statement is the key that signs it
    statement = _statement(row, entry, seq, leaf_hash, key_id(bytes(signer.verify_key)))
    data, signature, kid = sign_statement(statement, signer)
    return pb.ConsentReceipt(statement=data, signature=signature, key_id=kid)


def _statement(row: Consent, entry: dict[str, Any], seq: int, leaf_hash: bytes, kid: str) -> dict[str, Any]:
    return {
        "format": FORMAT, "key_id": kid, "change": change_of(entry),
        "consent_id": row.consent_id, "version": row.version,
        "patient_id": row.patient_id, "grantee": row.grantee,
        "signed_by": "proxy" if entry.get("on_behalf_of") == "patient" else "patient",
        "authorization": entry.get("authorization"), "request_id": entry.get("request"),
        "terms": _terms(row), "notice": _notice(row), "time": entry["time"],
        "ledger": {"seq": seq, "leaf_hash": leaf_hash.hex()},
    }


def change_of(entry: dict[str, Any]) -> str:
    """grant, approval (of an access request), import (of a FHIR Consent), narrowing or revocation."""
    kind = entry.get("kind")
    if kind == "consent.narrowed":
        return "narrowing"
    if kind == "consent.revoked":
        return "revocation"
    if entry.get("request") is not None:
        return "approval"
    return "import" if entry.get("source") == "fhir" else "grant"


def _terms(row: Consent) -> dict[str, Any]:
    return {
        "kind": row.kind, "categories": sorted(row.categories),
        "broad_categories": sorted(row.broad_categories) if row.broad_categories is not None else None,
        "purposes": sorted(row.purposes), "excepted_categories": sorted(row.excepted),
        "data_period": _period(row.data_from_ns, row.data_until_ns),
        "validity": _period(row.valid_from_ns, row.valid_until_ns),
    }


def _period(start: int | None, end: int | None) -> dict[str, str | None]:
    return {"start": rfc3339(start) if start is not None else None, "end": rfc3339(end) if end is not None else None}


def _notice(row: Consent) -> dict[str, Any] | None:
    if row.notice_id is None or row.notice_version is None or row.notice_sha256 is None:
        return None
    return {"notice_id": row.notice_id, "version": row.notice_version, "sha256": row.notice_sha256}


def receipts_page(s: Session, trail: AuditTrail, signer: Ed25519Signer, patient_id: str, consent_id: str,
                  after: int, size: int) -> tuple[list[pb.ConsentReceipt], str]:
    """The receipts of the consent's changes ledgered after seq `after`, oldest first, and the
    next page's token ("" on the last page). Found through the patient's ledger index."""
    pseudonym = trail.known_pseudonym(s, patient_id)
    if pseudonym is None:
        return [], ""
    seqs = s.scalars(select(LedgerSubject.seq).where(
        LedgerSubject.pseudonym == pseudonym, LedgerSubject.seq > after, LedgerSubject.kind.in_(KINDS),
    ).order_by(LedgerSubject.seq)).all()
    found: list[pb.ConsentReceipt] = []
    last = after
    for stored in LedgerReader(s.connection()).entries_at(seqs):
        entry = json.loads(stored.entry)
        if entry.get("kind") not in KINDS or entry.get("consent") != consent_id:
            continue  # another consent's change, or a redacted entry
        if len(found) == size:
            return found, str(last)
        row = s.get(Consent, (consent_id, entry["version"]))
        if row is not None:
            found.append(receipt(signer, row, stored.seq, stored.entry, stored.leaf_hash))
            last = stored.seq
    return found, ""
