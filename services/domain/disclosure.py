"""A fetch's decisions: the candidate records, one batch policy query for all of them, and per
record either a share sealed to the recipient or a withheld reason, each with its ledger entry.

`Disclosure.fetch` decides in a read transaction and ledgers in a write transaction, in which it
checks that nothing the decisions rest on has changed (or decides again); nothing it returns
leaves before that transaction commits: an entry that did not commit must not have been
disclosed (no audit, no access).

Every decision is ledgered with the policy's full reasons, but the caller is told only what
docs/disclosure.md allows: nothing at all without a relationship to the patient, and of the
records it may not have, only those that are not sensitive (or that it holds), with reasons that
name no sensitive category or label.

The decisions' entries are returned to the caller, so they name the patient by a pseudonym scoped
to it (crypto/derived.py), never by the ledger's own; the patient's history lists them all the
same. A research fetch names a research subject instead of the patient (research_subjects.py):
its bodies are pseudonymised to that subject, and nothing it returns names the patient.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from consentry.policy.engine import Decision, PolicyEngine
from consentry.services import clock
from consentry.services.crypto import at_rest, derived
from consentry.services.crypto.errors import RecordKeyGone
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.crypto.share import ShareKey, SharePackage, build_share
from consentry.services.domain import emergencies, part2, policy_input, sensitivity
from consentry.services.domain.consents import expire_lapsed, intact, policy_consent
from consentry.services.domain.obligations import PSEUDONYMISE, Pseudonym, apply_obligations, keyed_pseudonym
from consentry.services.domain.record_requests import Fetch
from consentry.services.domain.relationship import require_relationship
from consentry.services.domain.research_subjects import ResearchSubject, resolve
from consentry.services.errors import FailedPrecondition
from consentry.services.identity.principals import Principal
from consentry.services.signer import Ed25519Signer
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import Consent, PrincipalKey, Record

# Obligations the service fulfils around the body rather than in it: they go into the ledger.
LEDGERED_OBLIGATIONS = ("notify_patient", "review")
# Why an allowed record is withheld when its record key is gone: it was erased after the copy of
# the database the server runs on was made (a restore), or its key was lost (docs/operations.md,
# "Restore"). Nothing of it can be disclosed; its holder erases it again.
KEY_GONE = "the record's key is gone"


@dataclass(frozen=True)
class Outcome:
    """One record's decision as its caller may see it: shared (with its package) or withheld
    (with the reasons the caller may read, and the ledger entry unless it names others)."""

    record: Record
    ledger_seq: int
    ledger_entry: bytes
    package: SharePackage | None = None
    reasons: tuple[str, ...] = ()
    erased: bool = False
    subject_id: str = ""  # a research fetch's subject, which stands in for the patient


@dataclass(frozen=True)
class _Inputs:
    """What a fetch's decisions rest on, read in one transaction."""

    now_ns: int
    key: PrincipalKey
    records: list[Record]
    consents: list[dict[str, Any]]  # as the policy sees them at `now_ns`

    @property
    def basis(self) -> tuple[Any, ...]:
        """Everything a decision could turn on, comparable between two transactions."""
        return (self.key.key_id, [_record_basis(r) for r in self.records], self.consents)


@dataclass
class _Plan:
    """A fetch decided: its inputs, the records the caller may see and those it may not, each
    with its decision, and the bodies of the shared ones opened with the obligations applied,
    each with its share key already sealed to the recipient (the work left under the lock is
    the header, which names the entry's sequence number, its encryption and signature)."""

    fetch: Fetch
    subject: ResearchSubject | None
    inputs: _Inputs
    named: _Named
    shown: list[tuple[Record, Decision]] = field(default_factory=list)
    hidden: list[tuple[Record, Decision]] = field(default_factory=list)
    bodies: dict[str, tuple[bytes, list[str], ShareKey]] = field(default_factory=dict)
    keyless: set[str] = field(default_factory=set)  # allowed, but their record key is gone

    @cached_property
    def consents(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.inputs.consents}


class Disclosure:
    def __init__(self, trail: AuditTrail, policy: PolicyEngine, kek: KeyEncryptionKeyProvider,
                 signer: Ed25519Signer) -> None:
        self.trail = trail
        self.policy = policy
        self.kek = kek
        self.signer = signer

    def fetch(self, db: Database, principal: Principal, fetch: Fetch) -> list[Outcome]:
        """Decides every candidate record of the fetch and ledgers each decision; returns the
        outcomes the caller may see, once their entries have committed.

        Deciding, opening the bodies and applying the policy's obligations happen in a read
        transaction, outside the ledger's lock, so that concurrent fetches and consent changes
        do not queue behind them. The write transaction then takes the lock and reads again what
        the decisions rest on (the relationship, the recipient's key, the candidate records, the
        consents with their versions and states now); if anything changed in between, it decides
        again under the lock. So a revoke that committed before this fetch's entries is always
        seen, and no allowed entry follows the revoke's entry."""
        with db.read() as s:
            plan = self._plan(s, principal, fetch, locked=False)
        with db.write() as s:
            # Taking the ledger writer first orders what follows after every change that committed.
            self.trail.writer(s)
            if plan is None:
                plan = self._plan(s, principal, fetch, locked=True)
                assert plan is not None  # the writer makes the pseudonym the reader lacked
            else:
                expire_lapsed(s, self.trail, plan.fetch.patient_id)  # ledgers a lapse once
                now = self._inputs(s, principal, plan.fetch, plan.subject)
                if now.basis != plan.inputs.basis:
                    pseudonym = self.trail.pseudonym(s, plan.fetch.patient_id)
                    plan = self._decided(principal, plan.fetch, plan.subject, now, pseudonym)
            return self._ledger(s, principal, plan)

    def _plan(self, s: Session, principal: Principal, fetch: Fetch, *, locked: bool) -> _Plan | None:
        """Decides the fetch in `s`; None when only the ledger's writer can (the patient has no
        ledger pseudonym yet, which only it may make)."""
        subject = resolve(s, principal, fetch.subject_id) if fetch.subject_id else None
        if subject is not None:
            fetch = replace(fetch, patient_id=subject.patient_id)
        if locked:
            expire_lapsed(s, self.trail, fetch.patient_id)  # ledgers a lapse once
        inputs = self._inputs(s, principal, fetch, subject)
        pseudonym = (self.trail.pseudonym(s, fetch.patient_id) if locked
                     else self.trail.known_pseudonym(s, fetch.patient_id))
        return None if pseudonym is None else self._decided(principal, fetch, subject, inputs, pseudonym)

    def _decided(self, principal: Principal, fetch: Fetch, subject: ResearchSubject | None, inputs: _Inputs,
                 pseudonym: str) -> _Plan:
        """Every candidate record decided on `inputs`, and the shared ones opened and keyed."""
        # One query for the fetch; the consents, subject and purpose are sent once for all records.
        shared = policy_input.read_shared(principal, fetch, inputs.consents, inputs.now_ns)
        decisions = self.policy.decide_batch(
            shared, [policy_input.record_resource(r, pseudonym) for r in inputs.records])
        plan = _Plan(fetch, subject, inputs, _Named(self.trail.pseudonym_key, principal, fetch.patient_id, subject))
        for record, decision in zip(inputs.records, decisions, strict=True):
            (plan.shown if _may_see(principal, record, decision) else plan.hidden).append((record, decision))
            if decision.allow and record.erased_ns is None:
                try:
                    body, applied = self._open(record, decision, plan.named)
                except RecordKeyGone:  # erased after this database's backup: nothing to disclose
                    plan.keyless.add(record.record_id)
                    continue
                plan.bodies[record.record_id] = body, applied, ShareKey.for_recipient(inputs.key.public_key)
        return plan

    def _inputs(self, s: Session, principal: Principal, fetch: Fetch, subject: ResearchSubject | None) -> _Inputs:
        """The relationship checked, then what the decisions rest on, as of now."""
        now_ns = clock.now_ns()
        research_consent = subject.consent_id if subject else None
        require_relationship(s, principal, fetch, now_ns, research_consent)
        key = _current_encryption_key(s, principal.name, fetch.patient_id)
        consents = sorted((policy_consent(c, now_ns)
                           for c in consents_for(s, self.trail.pseudonym_key, fetch.patient_id, principal.name,
                                                  research_consent)),
                          key=lambda c: c["id"])
        return _Inputs(now_ns, key, _candidates(s, fetch), consents)

    def _open(self, record: Record, decision: Decision, named: _Named) -> tuple[bytes, list[str]]:
        """The body the recipient gets, with the obligations the service fulfils in it applied."""
        body = at_rest.open_record(record.record_id, _sealed(record), self.kek, at_rest.RecordMeta.of(record))
        body, applied = apply_obligations(body, decision.obligations, pseudonym=named.in_bodies,
                                          handled_elsewhere=LEDGERED_OBLIGATIONS)
        if named.subject_id and PSEUDONYMISE not in applied:  # fail closed: the body names the patient
            raise RuntimeError("the policy allowed a research disclosure without pseudonymisation")
        return body, list(applied)

    def _ledger(self, s: Session, principal: Principal, plan: _Plan) -> list[Outcome]:
        """Ledgers every decision of the plan, under the writer `s` holds; the outcomes shown."""
        # The hidden decisions are ledgered last, so the entries the caller receives have
        # consecutive sequence numbers: no gap between them counts the records it was not shown.
        fetch = plan.fetch
        emergency_id = emergencies.new_id() if fetch.emergency else None
        outcomes = [self._decide(s, principal, plan, r, d, emergency_id) for r, d in plan.shown]
        for record, decision in plan.hidden:
            self._decide(s, principal, plan, record, decision, emergency_id)
        if emergency_id is not None:
            emergencies.record_access(s, self.trail, self.kek, principal, emergency_id, fetch.patient_id,
                                      fetch.justification, [o.record for o in outcomes if o.package is not None])
        return outcomes

    def _decide(self, s: Session, principal: Principal, plan: _Plan, record: Record, decision: Decision,
                emergency_id: str | None) -> Outcome:
        fetch, named, key, consents = plan.fetch, plan.named, plan.inputs.key, plan.consents
        common: dict[str, Any] = {
            "patient_id": record.patient_id, "named_as": named.in_entries, "record": record.record_id,
            "category": record.category, "purpose": fetch.purpose, "role": principal.role,
            "practitioner": principal.practitioner, "emergency": fetch.emergency,
            **decision_log(self.policy.revision, decision, {i: c["version"] for i, c in consents.items()}),
        }
        if emergency_id is not None:
            common["emergency_access"] = emergency_id
        if record.erased_ns is not None:
            return self._withhold(s, principal, record, ["the record was erased"], common, named, erased=True)
        if not decision.allow:
            return self._withhold(s, principal, record, list(decision.reasons), common, named)
        if record.record_id in plan.keyless:
            return self._withhold(s, principal, record, [KEY_GONE], common, named)
        body, applied, share_key = plan.bodies[record.record_id]
        seq = self.trail.writer(s).next_seq
        # The patient reference is what the recipient named in its request (the research subject,
        # never the patient, in a research fetch), so it can check it and learns nothing more.
        package = build_share(
            body, record_id=record.record_id, category=record.category, recipient=principal.name,
            recipient_key_id=key.key_id, recipient_public_key=key.public_key, purpose=fetch.purpose,
            patient_ref=fetch.subject_id or fetch.patient_id, fetch_nonce=fetch.nonce, ledger_seq=seq,
            obligations=applied, signer=self.signer, now=clock.now_utc(), share_key=share_key,
            redisclosure=(part2.redisclosure(decision.consent_ids, consents)
                          if part2.is_substance_use(record.category, record.labels) else None),
        )
        ledgered = [name for name in LEDGERED_OBLIGATIONS if decision.obligations.get(name)]
        entry = self.trail.append_entry(
            s, "access.decision", principal.id, allowed=True, reasons=list(decision.reasons),
            obligations=sorted(applied + ledgered), recipient_key=key.key_id,
            header_hash=package.header_hash, ciphertext_hash=package.ciphertext_hash, **common,
        )
        if entry.seq != seq:  # the header names the entry that proves it; they must agree
            raise RuntimeError("ledger sequence moved under an open writer")
        return Outcome(record, seq, entry.entry_bytes, package=package, subject_id=named.subject_id)

    def _withhold(self, s: Session, principal: Principal, record: Record, reasons: list[str], common: dict[str, Any],
                  named: _Named, *, erased: bool = False, **ledgered: Any) -> Outcome:
        entry = self.trail.append_entry(s, "access.decision", principal.id, allowed=False, reasons=reasons,
                                        **ledgered, **common)
        shown = sensitivity.caller_reasons(reasons)
        # The entry holds the full reasons. It goes with the outcome (which it proves) when all of
        # them are shown, or to the holder, which filed the category and labels they name.
        sendable = shown == reasons or record.holder == principal.name
        return Outcome(record, entry.seq, entry.entry_bytes if sendable else b"", reasons=tuple(shown),
                       erased=erased, subject_id=named.subject_id)


def decision_log(revision: str, decision: Decision, versions: dict[str, int]) -> dict[str, Any]:
    """What an entry holds of its decision, in the shape of OPA's decision log: an id of its own,
    the policy bundle's revision, and each consent it relied on with the version in force, so the
    entry proves which version of which consent allowed it (docs/ledger.md, "Decision entries")."""
    if not set(decision.consent_ids) <= set(versions):  # fail closed: a basis the fetch never read
        raise RuntimeError("the policy relied on a consent it was not given")
    return {
        "decision_id": str(uuid.uuid4()), "policy_revision": revision,
        "consents": list(decision.consent_ids),
        "consent_versions": [{"id": c, "version": versions[c]} for c in decision.consent_ids],
    }


class _Named:
    """How one fetch's outcomes name the patient (docs/ledger.md, docs/disclosure.md).

    `in_entries`: the pseudonym its access entries carry, scoped to the recipient (to the research
    subject in a research fetch), never the ledger's own. `in_bodies`: what a pseudonymised body
    calls the patient: the subject id, and keyed pseudonyms scoped to the subject for anyone else
    it names; outside research nothing is pseudonymised, so there is nothing to call them."""

    def __init__(self, secret: bytes, recipient: Principal, patient_id: str, subject: ResearchSubject | None) -> None:
        self.subject_id = subject.subject_id if subject else ""
        self.in_bodies: Pseudonym | None = None
        if subject is None:
            self.in_entries = derived.institution_pseudonym(secret, recipient.name, patient_id)
            return
        self.in_entries = derived.research_pseudonym(secret, subject.subject_id)
        others = keyed_pseudonym(derived.body_pseudonym_key(secret, subject.subject_id))
        self.in_bodies = lambda named_id: subject.subject_id if named_id == patient_id else others(named_id)


def _sealed(record: Record) -> at_rest.SealedRecord:
    """The record's body as stored; only erasure (which the caller has ruled out) destroys it."""
    if record.ciphertext is None or record.wrapped_key is None or record.kek_id is None:
        raise RuntimeError("a record that was not erased has no sealed body")
    return at_rest.SealedRecord(record.ciphertext, record.wrapped_key, record.kek_id)


def _may_see(principal: Principal, record: Record, decision: Decision) -> bool:
    """A shared record, a withheld one that is not sensitive, or a withheld one the caller holds."""
    if decision.allow and record.erased_ns is None:
        return True
    return record.holder == principal.name or not sensitivity.is_sensitive(record.category, record.labels)


def _current_encryption_key(s: Session, institution_id: str, patient_id: str) -> PrincipalKey:
    key = s.scalars(_ENCRYPTION_KEY, {"principal": "org:" + institution_id}).first()
    if key is None:
        # Only reached once the institution is related to the enrolled patient, who sees the attempt.
        raise FailedPrecondition("the institution has no current encryption key; register one before fetching"
                                 ).about(patient_id)
    return key


def _record_basis(record: Record) -> tuple[Any, ...]:
    """What of a record a decision or its package could turn on."""
    return (record.record_id, record.category, list(record.labels), record.holder, record.effective_ns,
            record.erased_ns, record.ciphertext, record.meta_version)


def _candidates(s: Session, fetch: Fetch) -> list[Record]:
    query = _CANDIDATES[bool(fetch.categories), bool(fetch.record_ids)]
    return list(s.scalars(query, {"patient": fetch.patient_id, "categories": list(fetch.categories),
                                  "record_ids": list(fetch.record_ids)}))


def consents_for(s: Session, secret: bytes, patient_id: str, grantee: str, consent_id: str | None) -> list[Consent]:
    """The consents the policy decides by: a research fetch's one consent, or all naming the
    grantee; a row whose MAC fails (changed outside the service) is not among them."""
    params = {"patient": patient_id, "grantee": grantee}
    if consent_id is None:
        return intact(secret, s.scalars(_CONSENTS, params))
    return intact(secret, s.scalars(_CONSENTS_BY, {**params, "consent": consent_id}))


# Built once: every fetch runs them, twice (docs/disclosure.md, "Deciding outside the ledger's lock").
_ENCRYPTION_KEY = select(PrincipalKey).where(
    PrincipalKey.principal == bindparam("principal"), PrincipalKey.key_type == "encryption",
    PrincipalKey.status == "current")
# Superseded versions are history, never a basis for a decision.
_CONSENTS = select(Consent).where(Consent.patient_id == bindparam("patient"), Consent.grantee == bindparam("grantee"),
                                  Consent.status != "superseded")
_CONSENTS_BY = _CONSENTS.where(Consent.consent_id == bindparam("consent"))


def _candidates_query(by_category: bool, by_id: bool) -> Select[Any]:
    query = select(Record).where(Record.patient_id == bindparam("patient"))
    if by_category:
        query = query.where(Record.category.in_(bindparam("categories", expanding=True)))
    if by_id:
        query = query.where(Record.record_id.in_(bindparam("record_ids", expanding=True)))
    return query.order_by(Record.created_ns, Record.record_id)


_CANDIDATES = {(c, i): _candidates_query(c, i) for c in (False, True) for i in (False, True)}
