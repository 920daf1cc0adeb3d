"""A dry run of a grant: what the grantee could receive under proposed terms, decided by the real
policy on the real input with the proposed consent added, and nothing disclosed.

The decisions are the ones a fetch would get (disclosure.py): the same policy engine, the same
input documents (policy_input.py), the grantee's consents in force plus the proposed one, the
patient's records as the policy sees them. Only counts per category, holder and purpose leave:
no record id, no content, no share. A preview is ledgered (`consent.previewed`) in the caller's
transaction, naming the patient by pseudonym and the terms by their vocabulary codes only.

Without a role, each purpose is decided as the grantee's role that reads the most for it
(staff.default_role). Erased records are left out: no terms can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.policy.engine import PolicyEngine
from consentry.services import clock
from consentry.services.domain import policy_input
from consentry.services.domain.consent_changes import ledger_for_patient
from consentry.services.domain.consents import policy_consent
from consentry.services.domain.disclosure import consents_for
from consentry.services.domain.record_requests import Fetch
from consentry.services.errors import NotFound
from consentry.services.identity import staff
from consentry.services.identity.acting_for import MANAGE_CONSENTS, acting_for
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Consent, Institution, Record

PROPOSED = "proposed"  # the id the proposed consent goes by in the policy's input


@dataclass
class Group:
    category: str
    holder: str
    purpose: str
    record_count: int = 0
    reasons: set[str] = field(default_factory=set)


@dataclass
class Preview:
    shared: list[Group]
    withheld: list[Group]
    ledger_seq: int


def preview(s: Session, trail: AuditTrail, policy: PolicyEngine, patient_id: str, grantee: str, terms: dict,
            role: str) -> Preview:
    """Decides every record of the patient for each proposed purpose; ledgers the preview."""
    current_principal().require("patient")
    actor = acting_for(s, patient_id, MANAGE_CONSENTS)
    institution = s.get(Institution, grantee)
    if institution is None:
        raise NotFound("no institution with this id is registered")
    trail.writer(s)  # ordered after every committed consent change, as a fetch is
    now = clock.now_ns()
    kind = staff.kind_name(institution.kind)
    consents = [policy_consent(c, now) for c in consents_for(s, trail.pseudonym_key, patient_id, grantee, None)]
    consents.append(policy_consent(_proposed(patient_id, grantee, terms), now))
    records = list(s.scalars(select(Record).where(Record.patient_id == patient_id, Record.erased_ns.is_(None))
                             .order_by(Record.created_ns, Record.record_id)))
    resources = [policy_input.resource(s, trail, r) for r in records]
    shared: dict[tuple[str, str, str], Group] = {}
    withheld: dict[tuple[str, str, str], Group] = {}
    for purpose in terms["purposes"]:
        as_role = Principal("org:" + grantee, role=role or staff.default_role(kind, purpose), institution_kind=kind)
        fetch = Fetch(patient_id, purpose, (), (), False, "", b"")
        decisions = policy.decide_batch(policy_input.read_shared(as_role, fetch, consents, now), resources)
        for record, decision in zip(records, decisions, strict=True):
            key = (record.category, record.holder, purpose)
            group = (shared if decision.allow else withheld).setdefault(key, Group(*key))
            group.record_count += 1
            if not decision.allow:
                group.reasons.update(decision.reasons)
    seq = ledger_for_patient(
        s, trail, "consent.previewed", actor, patient_id, grantee="org:" + grantee, consent_kind=terms["kind"],
        categories=terms["categories"], purposes=terms["purposes"], excepted=terms["excepted"], role=role or None,
        shared=sum(g.record_count for g in shared.values()),
        withheld=sum(g.record_count for g in withheld.values())).seq
    return Preview(_sorted(shared), _sorted(withheld), seq)


def _proposed(patient_id: str, grantee: str, terms: dict) -> Consent:
    """The proposed consent as an unsaved version: never added to the session."""
    return Consent(consent_id=PROPOSED, version=1, patient_id=patient_id, grantee=grantee, status="active", **terms)


def _sorted(groups: dict[tuple[str, str, str], Group]) -> list[Group]:
    return [groups[k] for k in sorted(groups)]
