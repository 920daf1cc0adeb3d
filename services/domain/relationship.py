"""Whether an institution stands in a relationship to a patient that lets it ask for records.

Without one a fetch learns nothing about the patient's records (docs/disclosure.md): not their
ids, categories, labels or count, nor whether the patient is enrolled. It is refused with one
fixed PERMISSION_DENIED before any record is read or decided.
"""

from __future__ import annotations

import json

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.record_requests import Fetch
from consentry.services.errors import PermissionDenied
from consentry.services.identity import staff
from consentry.services.identity.acting_for import about_enrolled
from consentry.services.identity.principals import Principal
from consentry.services.store.models import Consent, Person, Record

EMERGENCY_PURPOSE: str = json.loads((POLICY_DIR / "data" / "emergency.json").read_text())["purpose"]

# The same bytes for an unknown id and for an enrolled patient the institution has no
# relationship with: no reasons, so no details that could differ.
UNRELATED = ("nothing was disclosed: this institution has no active consent, declared emergency or record "
             "that relates it to a patient with this id; ask the patient with RequestAccess")


def require_relationship(s: Session, caller: Principal, fetch: Fetch, now_ns: int,
                         research_consent: str | None = None) -> None:
    """Refuses the fetch unless the patient is enrolled and the institution holds an active
    consent from them, may break the glass and declares an emergency, or holds one of their
    records. A research fetch is related only by the one consent its subject id names
    (`research_consent`), in force: nothing else may link the subject to the patient.

    Call it after the ledger writer is taken, so a consent revoked before this fetch began is
    never counted."""
    institution, patient_id = caller.name, fetch.patient_id
    if research_consent is not None:
        related = _consented(s, patient_id, institution, now_ns, research_consent)
    else:
        related = (_emergency(caller, fetch) or _consented(s, patient_id, institution, now_ns)
                   or _holds(s, patient_id, institution))
    if not (related and s.execute(_ENROLLED, {"patient": patient_id}).first() is not None):
        raise about_enrolled(s, PermissionDenied(UNRELATED), patient_id)


def _emergency(caller: Principal, fetch: Fetch) -> bool:
    """A break-the-glass claim by a clinician of a care-delivering institution; the policy still
    decides each record, and may refuse them all."""
    return (fetch.purpose == EMERGENCY_PURPOSE and fetch.emergency and bool(fetch.justification.strip())
            and staff.may_break_glass(caller.institution_kind, caller.role))


def _consented(s: Session, patient_id: str, institution: str, now_ns: int, consent_id: str | None = None) -> bool:
    """An active consent (`consent_id`, if given) in force at `now_ns` (started and not lapsed),
    whatever it covers."""
    params = {"patient": patient_id, "grantee": institution, "now": now_ns}
    if consent_id is None:
        return s.execute(_CONSENTED, params).first() is not None
    return s.execute(_CONSENTED_BY, {**params, "consent": consent_id}).first() is not None


def _holds(s: Session, patient_id: str, institution: str) -> bool:
    return s.execute(_HOLDS, {"patient": patient_id, "holder": institution}).first() is not None


# Built once: every fetch runs them, twice (docs/disclosure.md, "Deciding outside the ledger's lock").
_CONSENTED = select(Consent.consent_id).where(
    Consent.patient_id == bindparam("patient"), Consent.grantee == bindparam("grantee"), Consent.status == "active",
    or_(Consent.valid_from_ns.is_(None), Consent.valid_from_ns <= bindparam("now")),
    or_(Consent.valid_until_ns.is_(None), Consent.valid_until_ns > bindparam("now"))).limit(1)
_CONSENTED_BY = _CONSENTED.where(Consent.consent_id == bindparam("consent"))
_HOLDS = select(Record.record_id).where(
    Record.patient_id == bindparam("patient"), Record.holder == bindparam("holder")).limit(1)
_ENROLLED = select(Person.patient_id).where(Person.patient_id == bindparam("patient"))
