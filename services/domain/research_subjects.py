"""Research subjects: how a research fetch names the patient without naming them.

A research consent has a subject id, derived from its consent id under the service secret
(crypto/derived.py): stable for the consent, unlinkable across consents and recipients, shown to
the grantee and the patient. A research fetch names the subject id, never the patient id, and
resolves it here, inside the fetch's transaction. It resolves only for the consent's grantee: any
other subject id, made up or another institution's, answers exactly like an unrelated patient
(docs/disclosure.md).

The id is stored on every version of the consent, for the lookup. Consents from before it
existed get theirs when the server starts (`assign_missing`), since migrations do not read the
service secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consentry.services.crypto import derived
from consentry.services.domain.relationship import UNRELATED
from consentry.services.errors import PermissionDenied
from consentry.services.identity.acting_for import about_enrolled
from consentry.services.identity.principals import Principal
from consentry.services.store.db import Database
from consentry.services.store.models import Consent

RESEARCH = "research"


@dataclass(frozen=True)
class ResearchSubject:
    """A subject id as resolved for its grantee: the consent it names and whose it is."""

    subject_id: str
    consent_id: str
    patient_id: str


def subject_of(secret: bytes, consent_id: str, kind: str) -> str | None:
    """The subject id a new consent (or version) carries: only a research consent has one."""
    return derived.subject_id(secret, consent_id) if kind == RESEARCH else None


def resolve(s: Session, caller: Principal, subject_id: str) -> ResearchSubject:
    """The research consent given to the calling institution under `subject_id`; PERMISSION_DENIED
    with the unrelated-patient message for any other id. The consent's patient sees an attempt
    with their subject id by another institution in their history."""
    found = s.execute(select(Consent.consent_id, Consent.patient_id, Consent.grantee).where(
        Consent.subject_id == subject_id, Consent.kind == RESEARCH).limit(1)).first()
    if found is None:
        raise PermissionDenied(UNRELATED)
    if found.grantee != caller.name:
        raise about_enrolled(s, PermissionDenied(UNRELATED), found.patient_id)
    return ResearchSubject(subject_id, found.consent_id, found.patient_id)


def assign_missing(db: Database, secret: bytes) -> int:
    """Gives every research consent without a subject id its own; returns how many consents
    (not versions) got one. Run at start-up, before calls are served; a no-op once done."""
    with db.write() as s:
        missing = s.scalars(select(Consent.consent_id).where(
            Consent.kind == RESEARCH, Consent.subject_id.is_(None)).distinct()).all()
        for consent_id in missing:
            s.execute(update(Consent).where(Consent.consent_id == consent_id)
                      .values(subject_id=derived.subject_id(secret, consent_id)))
    return len(missing)
