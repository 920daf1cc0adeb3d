"""A copy of the patient's own records (PIPL 45, HIPAA 164.524, GDPR 15 and 20): a FHIR R4
Bundle of type "collection" holding every record not erased, each as deposited, sealed to the
key of whoever asked for it (the patient, or their representative), never readable by the
service's transport or anyone else (crypto/export_seal.py).

A page holds records up to the server's body limit (at least one), in record id order; each page
is ledgered and tracked as an access request answered at once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.crypto import at_rest, export_seal
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain import rights_tracker
from consentry.services.errors import FailedPrecondition
from consentry.services.identity.acting_for import EXERCISE_RIGHTS, acting_for
from consentry.services.signer import Ed25519Signer
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import PrincipalKey, Record, RightsRequest


@dataclass(frozen=True)
class ExportPage:
    sealed: export_seal.SealedExport
    records: int
    next_token: str
    request: RightsRequest
    ledger_seq: int


def export_page(s: Session, trail: AuditTrail, kek: KeyEncryptionKeyProvider, signer: Ed25519Signer, patient_id: str,
                after: str, budget: int) -> ExportPage:
    actor = acting_for(s, patient_id, EXERCISE_RIGHTS)
    key = s.scalars(select(PrincipalKey).where(PrincipalKey.principal == actor.id,
                                               PrincipalKey.key_type == "identity",
                                               PrincipalKey.status == "current")).first()
    if key is None:
        raise FailedPrecondition("you have no current identity key to seal the export to")
    rows, more = _page(s, patient_id, after, budget, kek)
    export_id = str(uuid.uuid4())
    bundle = _bundle(export_id, rows)
    sealed = export_seal.seal_export(bundle, export_id=export_id, patient_key_id=key.key_id,
                                     patient_public_key=key.public_key, records=len(rows), signer=signer,
                                     now=clock.now_utc())
    request = rights_tracker.file_request(s, trail, patient_id, "access", None, status="completed")
    seq = trail.append(s, "rights.exported", actor.id, patient_id=patient_id, request=request.request_id,
                       export=export_id, count=len(rows), key_id=key.key_id,
                       on_behalf_of=None if actor.name == patient_id else "patient")
    return ExportPage(sealed, len(rows), rows[-1][0].record_id if more else "", request, seq)


def _page(s: Session, patient_id: str, after: str, budget: int,
          kek: KeyEncryptionKeyProvider) -> tuple[list[tuple[Record, bytes]], bool]:
    query = select(Record).where(Record.patient_id == patient_id, Record.erased_ns.is_(None),
                                 Record.record_id > after).order_by(Record.record_id)
    out: list[tuple[Record, bytes]] = []
    used = 0
    for row in s.scalars(query):
        assert row.ciphertext is not None and row.wrapped_key is not None and row.kek_id is not None
        body = at_rest.open_record(row.record_id, at_rest.SealedRecord(row.ciphertext, row.wrapped_key, row.kek_id),
                                   kek, at_rest.RecordMeta.of(row))
        if out and used + len(body) > budget:
            return out, True
        out.append((row, body))
        used += len(body)
    return out, False


def _bundle(export_id: str, rows: list[tuple[Record, bytes]]) -> bytes:
    """FHIR R4 Bundle, type collection: one entry per record, the resource as deposited (parsed
    and re-serialized), the record id as the entry's fullUrl."""
    bundle: dict = {"resourceType": "Bundle", "id": export_id, "type": "collection", "timestamp": clock.now_rfc3339()}
    if rows:  # FHIR JSON has no empty arrays: a patient without records gets a Bundle without entries
        bundle["entry"] = [{"fullUrl": f"urn:uuid:{row.record_id}", "resource": json.loads(body)} for row, body in rows]
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
