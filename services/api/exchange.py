"""ExchangeService: deposit, list, fetch (decide, seal, ledger, stream) and erase records."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import Appended
from consentry.policy.engine import UNAVAILABLE
from consentry.services.crypto import at_rest
from consentry.services.api.app import App
from consentry.services.identity.acting_for import MANAGE_CONSENTS, READ_HISTORY, acting_for
from consentry.services.domain.consents import expire_lapsed, policy_consent
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from consentry.services.store.models import Consent, Institution, Person, PrincipalKey, Record
from consentry.services.domain.obligations import apply_obligations, keyed_pseudonym
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.domain.records import read_deposit
from consentry.services.crypto.share import build_share
from consentry.services.domain.validation import Violations, to_timestamp
from consentry.v1 import exchange_pb2 as pb
from consentry.v1 import exchange_pb2_grpc
from consentry.v1 import registry_pb2

# Institutions that hold and deposit records. Payers and registries only receive.
HOLDER_KINDS = {
    registry_pb2.INSTITUTION_KIND_HOSPITAL, registry_pb2.INSTITUTION_KIND_CLINIC,
    registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, registry_pb2.INSTITUTION_KIND_LABORATORY,
}
# Obligations the service fulfils around the body rather than in it: they go into the ledger.
LEDGERED_OBLIGATIONS = ("notify_patient", "review")


def metadata_pb(row: Record) -> pb.RecordMetadata:
    return pb.RecordMetadata(
        record_id=row.record_id, patient_id=row.patient_id, holder=row.holder,
        resource_type=row.resource_type, category=row.category, labels=list(row.labels),
        effective_time=to_timestamp(row.effective_ns), create_time=to_timestamp(row.created_ns),
        erased=row.erased_ns is not None, content_hash=row.content_hash,
    )


class ExchangeServicer(exchange_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    # -- deposit ------------------------------------------------------------------------------

    def PutRecord(self, request, context):
        holder = current_principal()
        holder.require("org")
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.raise_if_any()
        deposit = read_deposit(request.patient_id, request.fhir_json, list(request.labels), request.category)
        record_id = str(uuid.uuid4())
        sealed = at_rest.seal_record(record_id, request.fhir_json, self.app.kek)
        with self.app.db.write() as s:
            institution = s.get(Institution, holder.name)
            if institution is None or institution.kind not in HOLDER_KINDS:
                raise PermissionDenied("only hospitals, clinics, family doctors and laboratories deposit records")
            if s.get(Person, request.patient_id) is None:
                raise NotFound("no patient with this id is enrolled")
            row = Record(
                record_id=record_id, patient_id=request.patient_id, holder=holder.name,
                resource_type=deposit.resource_type, category=deposit.category, labels=deposit.labels,
                effective_ns=deposit.effective_ns, created_ns=time.time_ns(),
                content_hash=hashlib.sha256(request.fhir_json).hexdigest(),
                ciphertext=sealed.ciphertext, wrapped_key=sealed.wrapped_key, kek_id=sealed.kek_id,
            )
            s.add(row)
            seq = self.app.trail.append(
                s, "record.deposited", holder.id, patient_id=request.patient_id, record=record_id,
                category=deposit.category, labels=deposit.labels, role=holder.role, practitioner=holder.practitioner,
            )
            return pb.PutRecordResponse(record=metadata_pb(row), ledger_seq=seq)

    def ListRecords(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.page_size("page_size", request.page_size)
        v.raise_if_any()
        principal = current_principal()
        size = request.page_size or 100
        with self.app.db.read() as s:
            query = select(Record).where(Record.patient_id == request.patient_id, Record.record_id > request.page_token)
            if principal.kind == "org":
                query = query.where(Record.holder == principal.name)
            else:
                acting_for(s, request.patient_id, READ_HISTORY)
            rows = s.scalars(query.order_by(Record.record_id).limit(size + 1)).all()
        token = rows[size - 1].record_id if len(rows) > size else ""
        return pb.ListRecordsResponse(records=[metadata_pb(r) for r in rows[:size]], next_page_token=token)

    # -- fetch --------------------------------------------------------------------------------

    def FetchRecords(self, request, context):
        principal = current_principal()
        principal.require("org")
        _validate_fetch(request)
        with self.app.db.write() as s:
            # Taking the ledger writer first orders this fetch after every consent change that
            # committed before it: a revoke that returned is always seen.
            self.app.trail.writer(s)
            if s.get(Person, request.patient_id) is None:
                raise NotFound("no patient with this id is enrolled")
            key = _current_encryption_key(s, principal.name)
            records = _candidates(s, request)
            now_ns = time.time_ns()
            expire_lapsed(s, self.app.trail, request.patient_id, now_ns)  # ledgers a lapse once
            consents = [policy_consent(c, now_ns) for c in _consents_for(s, request.patient_id, principal.name)]
            # One query for the fetch; the consents, subject and purpose are sent once for all records.
            shared = self._policy_shared(principal, request, consents, now_ns)
            decisions = self.app.policy.decide_batch(shared, [self._policy_resource(r) for r in records])
            responses = [self._decide(s, principal, request, r, d, key) for r, d in zip(records, decisions)]
        # Only after the disclosures and their ledger entries have committed does anything leave.
        yield from responses

    # A record's policy input is the shared part plus "resource" (docs/policy.md); a fetch sends
    # the shared batch shape, {**shared, "resources": [...]}, so the consents are encoded once.
    def _policy_shared(self, principal: Principal, request, consents: list, now_ns: int) -> dict:
        return {
            "subject": {"org": principal.name, "role": principal.role, "practitioner": principal.practitioner},
            "action": "read",
            "purpose": request.purpose,
            "emergency": {"declared": request.emergency.declared, "reason": request.emergency.justification},
            "consents": consents,
            "now": now_ns,
        }

    def _policy_resource(self, record: Record) -> dict:
        return {
            "patient": self.app.trail.pseudonym(record.patient_id), "record": record.record_id,
            "category": record.category, "labels": list(record.labels), "holder": record.holder,
            "effective": record.effective_ns,
        }

    def _decide(self, s: Session, principal: Principal, request, record: Record, decision, key: PrincipalKey):
        common = dict(
            patient_id=record.patient_id, record=record.record_id, category=record.category,
            purpose=request.purpose, role=principal.role, practitioner=principal.practitioner,
            emergency=request.emergency.declared, policy_revision=self.app.policy.revision,
        )
        if record.erased_ns is not None:
            return self._withhold(s, principal, record, ["the record was erased"], common, erased=True)
        if not decision.allow:
            return self._withhold(s, principal, record, list(decision.reasons), common,
                                  consents=list(decision.consent_ids))
        body = at_rest.open_record(record.record_id, at_rest.SealedRecord(record.ciphertext, record.wrapped_key, record.kek_id), self.app.kek)
        body, applied = apply_obligations(body, decision.obligations, pseudonym=self._research_pseudonym(principal.name),
                                          handled_elsewhere=LEDGERED_OBLIGATIONS)
        seq = self.app.trail.writer(s).next_seq
        package = build_share(
            body, record_id=record.record_id, recipient=principal.name, recipient_key_id=key.key_id,
            recipient_public_key=key.public_key, purpose=request.purpose, ledger_seq=seq, obligations=applied,
            signer=self.app.share_signer, now=datetime.now(timezone.utc),
        )
        ledgered = [name for name in LEDGERED_OBLIGATIONS if decision.obligations.get(name)]
        entry = self._ledger_access(
            s, principal, True, list(decision.reasons), consents=list(decision.consent_ids),
            obligations=sorted(applied + ledgered), recipient_key=key.key_id,
            header_hash=package.header_hash, ciphertext_hash=package.ciphertext_hash, **common,
        )
        if entry.seq != seq:  # the header names the entry that proves it; they must agree
            raise RuntimeError("ledger sequence moved under an open writer")
        return pb.FetchRecordsResponse(ledger_seq=seq, ledger_entry=entry.entry_bytes, shared=pb.SharedRecord(
            record=metadata_pb(record),
            package=pb.SharePackage(header=package.header, ciphertext=package.ciphertext,
                                    sealed_key=package.sealed_key, signature=package.signature)))

    def _withhold(self, s: Session, principal: Principal, record: Record, reasons: list[str], common: dict,
                  *, erased: bool = False, **ledgered) -> pb.FetchRecordsResponse:
        entry = self._ledger_access(s, principal, False, reasons, **ledgered, **common)
        return pb.FetchRecordsResponse(ledger_seq=entry.seq, ledger_entry=entry.entry_bytes, withheld=pb.WithheldRecord(
            record_id=record.record_id, category=record.category, reasons=reasons, erased=erased))

    def _ledger_access(self, s: Session, principal: Principal, allowed: bool, reasons: list[str], **fields) -> Appended:
        return self.app.trail.append_entry(s, "access.decision", principal.id, allowed=allowed, reasons=reasons, **fields)

    def _research_pseudonym(self, recipient: str):
        # Stable for one recipient, unlinkable across recipients.
        key = hmac.new(self.app.trail.pseudonym_key, b"research:" + recipient.encode(), hashlib.sha256).digest()
        return keyed_pseudonym(key)

    # -- erase --------------------------------------------------------------------------------

    def EraseRecord(self, request, context):
        """The holder erases its own record; the patient, or a proxy with the manage-consents
        scope, erases one where the policy allows (action "erase", data/erasure.json)."""
        principal = current_principal()
        principal.require("org", "patient")
        v = Violations()
        v.uuid("record_id", request.record_id)
        v.text("reason", request.reason, required=True)
        v.raise_if_any()
        with self.app.db.write() as s:
            # The ledger writer first, as in a fetch: concurrent erasures of one record serialise,
            # so exactly one of them erases and ledgers.
            self.app.trail.writer(s)
            row = s.get(Record, request.record_id)
            if principal.kind == "org":
                if row is None or row.holder != principal.name:
                    raise NotFound("this institution holds no record with this id")
                by, ledgered = "holder", {}
            else:
                if row is None:
                    raise NotFound("no record with this id")
                acting_for(s, row.patient_id, MANAGE_CONSENTS)  # the patient or their proxy, else refused
                by = "patient" if principal.name == row.patient_id else "proxy"
            if row.erased_ns is not None:
                raise FailedPrecondition("the record is already erased")
            if by != "holder":
                ledgered = self._erasure_decision(principal, row, by)
            row.ciphertext, row.wrapped_key, row.erased_ns = None, None, time.time_ns()
            seq = self.app.trail.append(s, "record.erased", principal.id, patient_id=row.patient_id,
                                        record=row.record_id, category=row.category, erased_by=by,
                                        on_behalf_of="patient" if by == "proxy" else None,
                                        role=principal.role or None, practitioner=principal.practitioner or None,
                                        **ledgered)
            return pb.EraseRecordResponse(record=metadata_pb(row), ledger_seq=seq)

    def _erasure_decision(self, principal: Principal, row: Record, by: str) -> dict:
        """Asks the policy whether `by` ("patient" or "proxy") may erase `row`; raises unless it may."""
        [decision] = self.app.policy.decide([{
            "subject": {"kind": by},
            "action": "erase",
            "resource": self._policy_resource(row),
            "now": time.time_ns(),
        }])
        if not decision.allow:
            if any(r.startswith(UNAVAILABLE) for r in decision.reasons):
                raise Unavailable("the policy engine could not decide; nothing was erased")
            raise PermissionDenied("the policy does not let you erase this record", decision.reasons).about(row.patient_id)
        return {"policy_revision": self.app.policy.revision, "reasons": list(decision.reasons)}


def _validate_fetch(request) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.purpose("purpose", request.purpose)
    v.categories("categories", request.categories)
    for i, record_id in enumerate(request.record_ids):
        v.uuid(f"record_ids[{i}]", record_id)
    if request.emergency.declared:
        v.text("emergency.justification", request.emergency.justification, required=True)
        v.check(request.purpose == "ETREAT", "purpose", "must be ETREAT when an emergency is declared")
    v.raise_if_any()


def _current_encryption_key(s: Session, institution_id: str) -> PrincipalKey:
    key = s.scalars(select(PrincipalKey).where(
        PrincipalKey.principal == "org:" + institution_id, PrincipalKey.key_type == "encryption",
        PrincipalKey.status == "current")).first()
    if key is None:
        raise FailedPrecondition("the institution has no current encryption key; register one before fetching")
    return key


def _candidates(s: Session, request) -> list[Record]:
    query = select(Record).where(Record.patient_id == request.patient_id)
    if request.categories:
        query = query.where(Record.category.in_(list(request.categories)))
    if request.record_ids:
        query = query.where(Record.record_id.in_(list(request.record_ids)))
    return list(s.scalars(query.order_by(Record.created_ns, Record.record_id)))


def _consents_for(s: Session, patient_id: str, grantee: str) -> list[Consent]:
    # Superseded versions are history, never a basis for a decision.
    return list(s.scalars(select(Consent).where(
        Consent.patient_id == patient_id, Consent.grantee == grantee, Consent.status != "superseded")))
