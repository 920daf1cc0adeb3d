"""Reading the evidence of consent changes (consent_evidence), for those it concerns.

The patient reads it, and a proxy with the manage-consents scope (a proxy change: the patient in
person only); an institution reads the evidence of the consents given to it and of its own
access requests; an auditor reads all of it. To anyone else an id answers exactly as one that
does not exist. The evidence names the patient in the clear (the token's issuer, the request's
`patient_id`): an auditor who reads it learns whose consent it is, which the ledger alone, with
its pseudonyms, does not say (docs/disclosure.md).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import LedgerReader
from consentry.services.domain.consent_changes import latest, readable_latest
from consentry.services.domain.paging import within_bytes
from consentry.services.errors import NotFound
from consentry.services.identity.acting_for import MANAGE_CONSENTS, PATIENT_ONLY, about_enrolled, acting_for_owner
from consentry.services.identity.principals import current_principal
from consentry.services.store.models import AccessRequest, ConsentEvidence, PrincipalKey
from consentry.v1 import consent_pb2 as pb

NO_EVIDENCE = "no signed consent change with this authorization"
# One page of a consent's evidence: an import's FHIR body alone may be 64 KiB.
PAGE_ITEMS = 100


def for_consent(s: Session, consent_id: str, version: int, after_seq: int) -> tuple[list[pb.ConsentEvidence], str]:
    """The evidence of the consent's changes (of one version, if `version`), oldest first, one
    page after the ledger seq `after_seq`; and the next page's token ("" on the last page)."""
    principal = current_principal()
    principal.require("org", "patient", "auditor")
    if principal.kind == "auditor":
        latest(s, consent_id)  # NOT_FOUND for a consent that does not exist
    else:
        readable_latest(s, consent_id)
    query = select(ConsentEvidence).where(ConsentEvidence.consent_id == consent_id,
                                          ConsentEvidence.ledger_seq > after_seq)
    if version:
        query = query.where(ConsentEvidence.version == version)
    rows = list(s.scalars(query.order_by(ConsentEvidence.ledger_seq).limit(PAGE_ITEMS + 1)))
    found = _evidence_pb(s, rows[:PAGE_ITEMS])
    page = within_bytes(found, lambda item: item.ByteSize())
    more = len(page) < len(found) or len(rows) > PAGE_ITEMS
    return page, str(page[-1].ledger_seq) if more else ""


def by_authorization(s: Session, authorization: str) -> pb.ConsentEvidence:
    """The evidence of the one change whose ledger entry carries this `authorization`."""
    principal = current_principal()
    principal.require("org", "patient", "auditor")
    row = s.get(ConsentEvidence, authorization)
    if row is None:
        raise NotFound(NO_EVIDENCE)
    if principal.kind == "org" and not _given_to(s, row, principal.name):
        raise about_enrolled(s, NotFound(NO_EVIDENCE), row.patient_id)
    if principal.kind == "patient":
        acting_for_owner(s, row.patient_id, PATIENT_ONLY if row.proxy_id else MANAGE_CONSENTS, NO_EVIDENCE)
    [found] = _evidence_pb(s, [row])
    return found


def patient_of_change(s: Session, authorization: str) -> str:
    """The patient a signed change was about (the change exists: `by_authorization` found it)."""
    row = s.get(ConsentEvidence, authorization)
    assert row is not None
    return row.patient_id


def _given_to(s: Session, row: ConsentEvidence, institution_id: str) -> bool:
    """Whether the change concerns the institution: a consent given to it, or its own request."""
    if row.consent_id is not None:
        return latest(s, row.consent_id).grantee == institution_id
    request = s.get(AccessRequest, row.request_id) if row.request_id is not None else None
    return request is not None and request.requester == institution_id


def _evidence_pb(s: Session, rows: list[ConsentEvidence]) -> list[pb.ConsentEvidence]:
    entries = {e.seq: e.entry for e in LedgerReader(s.connection()).entries_at(r.ledger_seq for r in rows)}
    keys = {r.key_id: s.get(PrincipalKey, r.key_id) for r in rows}
    return [pb.ConsentEvidence(
        method=r.method, token=r.token, request=r.request, ledger_seq=r.ledger_seq,
        ledger_entry=entries.get(r.ledger_seq, b""), signer=r.signer, key_id=r.key_id,
        public_key=key.public_key if (key := keys[r.key_id]) is not None else b"",
        consent_id=r.consent_id or "", version=r.version or 0,
    ) for r in rows]
