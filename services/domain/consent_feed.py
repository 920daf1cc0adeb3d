"""What an institution is told of the consents it holds and the access requests it made: each
decision on its requests and each grant, narrowing and revocation of a consent it is the
grantee of, read from the ledger entries that made them (WatchConsentChanges, docs/watch.md).

An entry names a consent's grantee ("org:<id>"); a decision names only its request, whose
requester the request's row says. The patient id comes from the consent's or the request's
row, which the institution may read already. Nothing is decrypted, and an entry that is about
another institution's consent or request is never turned into a change.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger import tombstone_commitment
from consentry.ledger.db import LedgerReader
from consentry.services.store.models import AccessRequest, Consent
from consentry.v1 import consent_pb2 as pb

_REQUEST_KINDS = {
    "consent.request.approved": pb.CONSENT_CHANGE_KIND_REQUEST_APPROVED,
    "consent.request.declined": pb.CONSENT_CHANGE_KIND_REQUEST_DECLINED,
}
_CONSENT_KINDS = {
    "consent.granted": pb.CONSENT_CHANGE_KIND_CONSENT_GRANTED,
    "consent.narrowed": pb.CONSENT_CHANGE_KIND_CONSENT_NARROWED,
    "consent.revoked": pb.CONSENT_CHANGE_KIND_CONSENT_REVOKED,
}
_KINDS = _REQUEST_KINDS.keys() | _CONSENT_KINDS.keys()
READ_BATCH = 500


def changes_after(s: Session, institution_id: str, after: int) -> tuple[list[pb.ConsentChange], int]:
    """The institution's changes in the next batch of entries after seq `after`, and the last
    seq that batch read (`after` when the ledger holds nothing newer)."""
    rows = LedgerReader(s.connection()).entries(after + 1, READ_BATCH)
    if not rows:
        return [], after
    found = []
    for e in rows:
        fields = json.loads(e.entry) if tombstone_commitment(e.entry) is None else {}
        if fields.get("kind") in _KINDS:
            found.append((e.seq, fields))
    requests = _rows(s, AccessRequest, AccessRequest.request_id,
                     {f["request"] for _, f in found if f["kind"] in _REQUEST_KINDS})
    consents = _consent_rows(s, {f["consent"] for _, f in found if f["kind"] in _CONSENT_KINDS})
    changes = []
    for seq, fields in found:
        change = _change(seq, fields, institution_id, requests, consents)
        if change is not None:
            changes.append(change)
    return changes, rows[-1].seq


def _change(seq: int, e: dict[str, Any], institution_id: str, requests: dict[str, AccessRequest],
            consents: dict[tuple[str, int], Consent]) -> pb.ConsentChange | None:
    when = Timestamp()
    when.FromJsonString(e["time"])
    kind = e["kind"]
    if kind in _REQUEST_KINDS:
        request = requests.get(e.get("request", ""))
        if request is None or request.requester != institution_id:
            return None
        consent_id = request.consent_id or ""
        return pb.ConsentChange(ledger_seq=seq, time=when, kind=_REQUEST_KINDS[kind], request_id=request.request_id,
                                consent_id=consent_id, consent_version=1 if consent_id else 0,
                                patient_id=request.patient_id)
    consent = consents.get((e.get("consent", ""), int(e.get("version", 0))))
    if e.get("grantee") != "org:" + institution_id or consent is None or consent.grantee != institution_id:
        return None
    return pb.ConsentChange(ledger_seq=seq, time=when, kind=_CONSENT_KINDS[kind], request_id=e.get("request", ""),
                            consent_id=consent.consent_id, consent_version=consent.version,
                            patient_id=consent.patient_id)


def _rows(s: Session, model: Any, key: Any, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    return {getattr(r, key.key): r for r in s.scalars(select(model).where(key.in_(sorted(ids))))}


def _consent_rows(s: Session, ids: set[str]) -> dict[tuple[str, int], Consent]:
    if not ids:
        return {}
    return {(r.consent_id, r.version): r for r in s.scalars(select(Consent).where(Consent.consent_id.in_(sorted(ids))))}
