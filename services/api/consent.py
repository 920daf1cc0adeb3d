"""ConsentService: patients (and their proxies) give, narrow and revoke consent; institutions
ask for it; patients read who used their data."""

from __future__ import annotations

import json
import time
import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.db import LedgerReader
from consentry.services.api.app import App
from consentry.services.identity.acting_for import MANAGE_CONSENTS, PATIENT_ONLY, READ_HISTORY, acting_for, proxy_active
from consentry.services.domain.consents import (
    consent_pb, effective_status, expire_lapsed, narrower_violations, parse_terms, terms_of, terms_pb,
)
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.store.models import AccessRequest, Consent, Institution, LedgerSubject, Person, Proxy
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.domain.validation import Violations, timestamp_ns, to_timestamp
from consentry.v1 import consent_pb2 as pb
from consentry.v1 import consent_pb2_grpc

DAY_NS = 86_400 * 1_000_000_000
_REQUEST_STATUS_PB = {
    "pending": pb.ACCESS_REQUEST_STATUS_PENDING, "approved": pb.ACCESS_REQUEST_STATUS_APPROVED,
    "declined": pb.ACCESS_REQUEST_STATUS_DECLINED, "expired": pb.ACCESS_REQUEST_STATUS_EXPIRED,
}
_SCOPES = {pb.PROXY_SCOPE_MANAGE_CONSENTS: MANAGE_CONSENTS, pb.PROXY_SCOPE_READ_HISTORY: READ_HISTORY}
_SCOPE_PB = {v: k for k, v in _SCOPES.items()}


def _request_pb(row: AccessRequest, now_ns: int) -> pb.AccessRequest:
    status = "expired" if row.status == "pending" and row.expire_ns <= now_ns else row.status
    return pb.AccessRequest(
        request_id=row.request_id, patient_id=row.patient_id, requester=row.requester,
        terms=terms_pb(row.terms), reason=row.reason, status=_REQUEST_STATUS_PB[status],
        create_time=to_timestamp(row.created_ns), expire_time=to_timestamp(row.expire_ns),
        decide_time=to_timestamp(row.decided_ns), decline_reason=row.decline_reason or "",
        consent_id=row.consent_id or "",
    )


def _proxy_pb(row: Proxy, now_ns: int) -> pb.Proxy:
    return pb.Proxy(
        patient_id=row.patient_id, proxy_id=row.proxy_id, scopes=[_SCOPE_PB[s] for s in row.scopes],
        relationship=row.relationship, create_time=to_timestamp(row.created_ns),
        expire_time=to_timestamp(row.expire_ns), active=proxy_active(row, now_ns),
    )


def _latest(s: Session, consent_id: str) -> Consent:
    row = s.scalars(select(Consent).where(Consent.consent_id == consent_id)
                    .order_by(Consent.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound("no consent with this id")
    return row


def _may_read_consent(s: Session, row: Consent) -> None:
    principal = current_principal()
    if principal.kind == "org" and principal.name == row.grantee:
        return
    acting_for(s, row.patient_id, MANAGE_CONSENTS)


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def _ledger(self, s: Session, kind: str, actor: Principal, patient_id: str, **fields) -> int:
        on_behalf = None if actor.name == patient_id else "patient"
        return self.app.trail.append(s, kind, actor.id, patient_id=patient_id, on_behalf_of=on_behalf, **fields)

    def _insert_consent(self, s: Session, actor: Principal, patient_id: str, grantee: str, terms: dict,
                        consent_id: str | None = None, version: int = 1) -> Consent:
        row = Consent(consent_id=consent_id or str(uuid.uuid4()), version=version, patient_id=patient_id,
                      grantee=grantee, status="active", created_by=actor.id, created_ns=time.time_ns(), **terms)
        s.add(row)
        return row

    def _ledger_consent(self, s: Session, kind: str, actor: Principal, row: Consent, **extra) -> int:
        return self._ledger(s, kind, actor, row.patient_id, consent=row.consent_id, version=row.version,
                            grantee="org:" + row.grantee, consent_kind=row.kind, categories=list(row.categories),
                            purposes=list(row.purposes), excepted=list(row.excepted), **extra)

    # -- consents ---------------------------------------------------------------------------

    def GrantConsent(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.institution_id("grantee", request.grantee)
        terms = parse_terms(v, "terms", request.terms)
        v.raise_if_any()
        return pb.GrantConsentResponse(consent=self._grant(request.patient_id, request.grantee, terms))

    def _grant(self, patient_id: str, grantee: str, terms: dict, **ledgered) -> pb.Consent:
        with self.app.db.write() as s:
            actor = acting_for(s, patient_id, MANAGE_CONSENTS)
            expire_lapsed(s, self.app.trail, patient_id)
            if s.get(Institution, grantee) is None:
                raise NotFound("no institution with this id is registered")
            row = self._insert_consent(s, actor, patient_id, grantee, terms)
            self._ledger_consent(s, "consent.granted", actor, row, **ledgered)
            return consent_pb(row)

    def NarrowConsent(self, request, context):
        v = Violations()
        v.uuid("consent_id", request.consent_id)
        terms = parse_terms(v, "terms", request.terms)
        v.raise_if_any()
        with self.app.db.write() as s:
            old = _latest(s, request.consent_id)
            actor = acting_for(s, old.patient_id, MANAGE_CONSENTS)
            expire_lapsed(s, self.app.trail, old.patient_id)
            if effective_status(old, time.time_ns()) != "active":
                raise FailedPrecondition("only an active consent can be narrowed")
            v = Violations()
            narrower_violations(v, "terms", terms_of(old), terms)
            v.raise_if_any()
            old.status = "superseded"
            row = self._insert_consent(s, actor, old.patient_id, old.grantee, terms, old.consent_id, old.version + 1)
            self._ledger_consent(s, "consent.narrowed", actor, row)
            return pb.NarrowConsentResponse(consent=consent_pb(row))

    def RevokeConsent(self, request, context):
        v = Violations()
        v.uuid("consent_id", request.consent_id)
        v.text("reason", request.reason)
        v.raise_if_any()
        with self.app.db.write() as s:
            row = _latest(s, request.consent_id)
            actor = acting_for(s, row.patient_id, MANAGE_CONSENTS)
            expire_lapsed(s, self.app.trail, row.patient_id)
            if row.status != "active":
                raise FailedPrecondition(f"the consent is already {row.status}")
            row.status, row.revoked_ns, row.revoke_reason = "revoked", time.time_ns(), request.reason or None
            self._ledger(s, "consent.revoked", actor, row.patient_id, consent=row.consent_id,
                         version=row.version, grantee="org:" + row.grantee)
            return pb.RevokeConsentResponse(consent=consent_pb(row))

    def GetConsent(self, request, context):
        v = Violations()
        v.uuid("consent_id", request.consent_id)
        v.raise_if_any()
        with self.app.db.read() as s:
            rows = s.scalars(select(Consent).where(Consent.consent_id == request.consent_id)
                             .order_by(Consent.version)).all()
            if not rows:
                raise NotFound("no consent with this id")
            _may_read_consent(s, rows[-1])
            now = time.time_ns()
            return pb.GetConsentResponse(consent=consent_pb(rows[-1], now), history=[consent_pb(r, now) for r in rows])

    def ListConsents(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.page_size("page_size", request.page_size)
        v.raise_if_any()
        size = request.page_size or 100
        with self.app.db.read() as s:
            query = select(Consent).where(Consent.patient_id == request.patient_id)
            principal = current_principal()
            if principal.kind == "org":
                query = query.where(Consent.grantee == principal.name)
            else:
                acting_for(s, request.patient_id, MANAGE_CONSENTS)
            if not request.include_inactive:
                query = query.where(Consent.status == "active")
            rows = s.scalars(query.order_by(Consent.consent_id, Consent.version)).all()
            now = time.time_ns()
            rows = [r for r in rows if f"{r.consent_id}:{r.version:09d}" > request.page_token
                    and (request.include_inactive or effective_status(r, now) == "active")]
            page = rows[:size]
            token = f"{page[-1].consent_id}:{page[-1].version:09d}" if len(rows) > size else ""
            return pb.ListConsentsResponse(consents=[consent_pb(r, now) for r in page], next_page_token=token)

    def ExportConsent(self, request, context):
        from consentry.services.domain import fhir_consent  # it imports this module

        v = Violations()
        v.uuid("consent_id", request.consent_id)
        v.raise_if_any()
        with self.app.db.read() as s:
            row = _latest(s, request.consent_id)
            _may_read_consent(s, row)
            return pb.ExportConsentResponse(fhir_json=json.dumps(fhir_consent.to_fhir(row), separators=(",", ":")))

    def ImportConsent(self, request, context):
        from consentry.services.domain import fhir_consent  # it imports this module

        patient_id, grantee, terms = fhir_consent.from_fhir(fhir_consent.parse_json(request.fhir_json))
        return pb.ImportConsentResponse(consent=self._grant(patient_id, grantee, terms, source="fhir"))

    # -- access requests --------------------------------------------------------------------

    def RequestAccess(self, request, context):
        principal = current_principal()
        principal.require("org")
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        terms = parse_terms(v, "terms", request.terms)
        v.text("reason", request.reason, required=True)
        now = time.time_ns()
        expire = timestamp_ns(request.expire_time) if request.HasField("expire_time") else now + 14 * DAY_NS
        v.check(expire is not None and now < expire <= now + 90 * DAY_NS, "expire_time",
                "must be in the future and at most 90 days away")
        v.raise_if_any()
        with self.app.db.write() as s:
            if s.get(Person, request.patient_id) is None:
                raise NotFound("no patient with this id is enrolled")
            row = AccessRequest(request_id=str(uuid.uuid4()), patient_id=request.patient_id,
                                requester=principal.name, terms=terms, reason=request.reason,
                                status="pending", created_ns=now, expire_ns=expire)
            s.add(row)
            self.app.trail.append(s, "consent.requested", principal.id, patient_id=request.patient_id,
                                  request=row.request_id, categories=terms["categories"], purposes=terms["purposes"],
                                  role=principal.role, practitioner=principal.practitioner)
            return pb.RequestAccessResponse(request=_request_pb(row, now))

    def _load_request(self, s: Session, request_id: str) -> AccessRequest:
        row = s.get(AccessRequest, request_id)
        if row is None:
            raise NotFound("no access request with this id")
        principal = current_principal()
        if not (principal.kind == "org" and principal.name == row.requester):
            acting_for(s, row.patient_id, MANAGE_CONSENTS)
        return row

    def GetAccessRequest(self, request, context):
        v = Violations()
        v.uuid("request_id", request.request_id)
        v.raise_if_any()
        with self.app.db.read() as s:
            return pb.GetAccessRequestResponse(request=_request_pb(self._load_request(s, request.request_id), time.time_ns()))

    def ListAccessRequests(self, request, context):
        principal = current_principal()
        v = Violations()
        if principal.kind != "org" or request.patient_id:
            v.person_id("patient_id", request.patient_id)
        v.page_size("page_size", request.page_size)
        v.raise_if_any()
        now = time.time_ns()
        with self.app.db.read() as s:
            query = select(AccessRequest)
            if principal.kind == "org":
                query = query.where(AccessRequest.requester == principal.name)
                if request.patient_id:
                    query = query.where(AccessRequest.patient_id == request.patient_id)
            else:
                acting_for(s, request.patient_id, MANAGE_CONSENTS)
                query = query.where(AccessRequest.patient_id == request.patient_id)
            if request.page_token:
                query = query.where(AccessRequest.request_id > request.page_token)
            rows = [_request_pb(r, now) for r in s.scalars(query.order_by(AccessRequest.request_id))]
        if request.status:
            rows = [r for r in rows if r.status == request.status]
        size = request.page_size or 100
        token = rows[size - 1].request_id if len(rows) > size else ""
        return pb.ListAccessRequestsResponse(requests=rows[:size], next_page_token=token)

    def _pending(self, s: Session, request_id: str) -> tuple[AccessRequest, Principal]:
        row = s.get(AccessRequest, request_id)
        if row is None:
            raise NotFound("no access request with this id")
        actor = acting_for(s, row.patient_id, MANAGE_CONSENTS)
        expire_lapsed(s, self.app.trail, row.patient_id)
        if row.status != "pending":
            raise FailedPrecondition(f"the request is already {row.status}")
        if row.expire_ns <= time.time_ns():
            raise FailedPrecondition("the request has expired")
        return row, actor

    def ApproveAccessRequest(self, request, context):
        v = Violations()
        v.uuid("request_id", request.request_id)
        terms = parse_terms(v, "terms", request.terms) if request.HasField("terms") else None
        v.raise_if_any()
        with self.app.db.write() as s:
            row, actor = self._pending(s, request.request_id)
            if terms is None:
                terms = dict(row.terms)
            else:
                v = Violations()
                narrower_violations(v, "terms", row.terms, terms)
                v.raise_if_any()
            consent = self._insert_consent(s, actor, row.patient_id, row.requester, terms)
            row.status, row.decided_ns, row.consent_id = "approved", time.time_ns(), consent.consent_id
            self._ledger(s, "consent.request.approved", actor, row.patient_id, request=row.request_id,
                         consent=consent.consent_id)
            self._ledger_consent(s, "consent.granted", actor, consent)
            return pb.ApproveAccessRequestResponse(request=_request_pb(row, time.time_ns()), consent=consent_pb(consent))

    def DeclineAccessRequest(self, request, context):
        v = Violations()
        v.uuid("request_id", request.request_id)
        v.text("reason", request.reason)
        v.raise_if_any()
        with self.app.db.write() as s:
            row, actor = self._pending(s, request.request_id)
            row.status, row.decided_ns, row.decline_reason = "declined", time.time_ns(), request.reason or None
            self._ledger(s, "consent.request.declined", actor, row.patient_id, request=row.request_id)
            return pb.DeclineAccessRequestResponse(request=_request_pb(row, time.time_ns()))

    # -- proxies ----------------------------------------------------------------------------

    def AddProxy(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.person_id("proxy_id", request.proxy_id)
        v.check(request.proxy_id != request.patient_id, "proxy_id", "must name someone other than the patient")
        v.check(bool(request.scopes) and all(sc in _SCOPES for sc in request.scopes), "scopes",
                "must name at least one of PROXY_SCOPE_MANAGE_CONSENTS, PROXY_SCOPE_READ_HISTORY")
        v.text("relationship", request.relationship, required=True, limit=64)
        now = time.time_ns()
        expire = timestamp_ns(request.expire_time) if request.HasField("expire_time") else None
        v.check(expire is None or expire > now, "expire_time", "must be in the future")
        v.raise_if_any()
        with self.app.db.write() as s:
            actor = acting_for(s, request.patient_id, PATIENT_ONLY)
            if s.get(Person, request.proxy_id) is None:
                raise NotFound("the proxy must be an enrolled person")
            row = s.get(Proxy, (request.patient_id, request.proxy_id))
            if row is None:
                row = Proxy(patient_id=request.patient_id, proxy_id=request.proxy_id)
                s.add(row)
            row.scopes = sorted({_SCOPES[sc] for sc in request.scopes})
            row.relationship, row.created_ns, row.expire_ns, row.removed_ns = request.relationship, now, expire, None
            self._ledger(s, "proxy.named", actor, request.patient_id, proxy=self.app.trail.actor("patient:" + request.proxy_id),
                         scopes=row.scopes)
            return pb.AddProxyResponse(proxy=_proxy_pb(row, now))

    def RemoveProxy(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.person_id("proxy_id", request.proxy_id)
        v.raise_if_any()
        now = time.time_ns()
        with self.app.db.write() as s:
            actor = acting_for(s, request.patient_id, PATIENT_ONLY)
            row = s.get(Proxy, (request.patient_id, request.proxy_id))
            if row is None or row.removed_ns is not None:
                raise NotFound("this person is not the patient's proxy")
            row.removed_ns = now
            self._ledger(s, "proxy.removed", actor, request.patient_id, proxy=self.app.trail.actor("patient:" + request.proxy_id))
            return pb.RemoveProxyResponse(proxy=_proxy_pb(row, now))

    def ListProxies(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.raise_if_any()
        now = time.time_ns()
        with self.app.db.read() as s:
            acting_for(s, request.patient_id, PATIENT_ONLY)
            rows = s.scalars(select(Proxy).where(Proxy.patient_id == request.patient_id).order_by(Proxy.proxy_id))
            return pb.ListProxiesResponse(proxies=[_proxy_pb(r, now) for r in rows])

    # -- access history ---------------------------------------------------------------------

    def GetAccessHistory(self, request, context):
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.page_size("page_size", request.page_size)
        v.check(request.page_token == "" or request.page_token.isdigit(), "page_token", "must be a token from an earlier page")
        v.raise_if_any()
        size = request.page_size or 100
        after = int(request.page_token or -1)
        with self.app.db.read() as s:
            acting_for(s, request.patient_id, READ_HISTORY)
            pseudonym = self.app.trail.pseudonym(request.patient_id)
            seqs = s.scalars(select(LedgerSubject.seq).where(
                LedgerSubject.pseudonym == pseudonym, LedgerSubject.seq > after,
                LedgerSubject.kind.in_(("access.decision", "call.refused")),
            ).order_by(LedgerSubject.seq).limit(size + 1)).all()
            rows = LedgerReader(s.connection()).entries_at(seqs[:size])
        events = [_access_event(e.seq, json.loads(e.entry)) for e in rows]
        token = str(seqs[size - 1]) if len(seqs) > size else ""
        return pb.GetAccessHistoryResponse(events=events, next_page_token=token)


def _access_event(seq: int, e: dict) -> pb.AccessEvent:
    when = Timestamp()
    when.FromJsonString(e["time"])
    actor = e.get("actor", "")
    return pb.AccessEvent(
        ledger_seq=seq, time=when, institution_id=actor.split(":", 1)[1] if actor.startswith("org:") else actor,
        role=e.get("role", ""), practitioner_id=e.get("practitioner", ""), purpose=e.get("purpose", ""),
        record_id=e.get("record", ""), category=e.get("category", ""), allowed=bool(e.get("allowed", False)),
        reasons=e.get("reasons", []), consent_ids=e.get("consents", []), emergency=bool(e.get("emergency", False)),
        obligations=e.get("obligations", []),
    )

