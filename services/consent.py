"""ConsentService: patients (and their proxies) give, narrow and revoke consent; institutions
ask for it; patients read who used their data."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.store import ledger_entries
from consentry.services.app import App
from consentry.services.audit_trail import AuditTrail
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied
from consentry.services.models import AccessRequest, Consent, Institution, LedgerSubject, Person, Proxy
from consentry.services.principals import Principal, current_principal
from consentry.services.validation import (
    BROAD_CATEGORY, SENSITIVE_CATEGORIES, Violations, timestamp_ns, to_timestamp,
)
from consentry.v1 import common_pb2
from consentry.v1 import consent_pb2 as pb
from consentry.v1 import consent_pb2_grpc

# The ledger's actor for what the service records on no one's behalf (a consent lapsing).
SERVICE_ACTOR = "service"
# No proxy holds this scope: only the patient in person may name or remove proxies.
PATIENT_ONLY = "patient-only"
DAY_NS = 86_400 * 1_000_000_000
_KINDS = {pb.CONSENT_KIND_TREATMENT: "treatment", pb.CONSENT_KIND_RESEARCH: "research"}
_KIND_PB = {v: k for k, v in _KINDS.items()}
_STATUS_PB = {
    "active": pb.CONSENT_STATUS_ACTIVE, "revoked": pb.CONSENT_STATUS_REVOKED,
    "expired": pb.CONSENT_STATUS_EXPIRED, "superseded": pb.CONSENT_STATUS_SUPERSEDED,
}
_REQUEST_STATUS_PB = {
    "pending": pb.ACCESS_REQUEST_STATUS_PENDING, "approved": pb.ACCESS_REQUEST_STATUS_APPROVED,
    "declined": pb.ACCESS_REQUEST_STATUS_DECLINED, "expired": pb.ACCESS_REQUEST_STATUS_EXPIRED,
}
_SCOPES = {pb.PROXY_SCOPE_MANAGE_CONSENTS: "manage-consents", pb.PROXY_SCOPE_READ_HISTORY: "read-history"}
_SCOPE_PB = {v: k for k, v in _SCOPES.items()}


# -- terms ------------------------------------------------------------------------------------

def parse_terms(v: Violations, field: str, terms: pb.ConsentTerms) -> dict:
    """Validated consent terms as a plain dict (the stored and policy-facing form)."""
    kind = _KINDS.get(terms.kind or pb.CONSENT_KIND_TREATMENT)
    v.check(kind is not None, f"{field}.kind", "must be CONSENT_KIND_TREATMENT or CONSENT_KIND_RESEARCH")
    categories = list(terms.categories)
    v.categories(f"{field}.categories", [c for c in categories if c != BROAD_CATEGORY], required=not categories)
    v.purposes(f"{field}.purposes", terms.purposes, required=True)
    v.categories(f"{field}.excepted_categories", terms.excepted_categories)
    data = _period(v, f"{field}.data_period", terms.data_period if terms.HasField("data_period") else None)
    valid = _period(v, f"{field}.validity", terms.validity if terms.HasField("validity") else None)
    return {
        "kind": kind, "categories": sorted(set(categories)), "purposes": sorted(set(terms.purposes)),
        "excepted": sorted(set(terms.excepted_categories)),
        "data_from_ns": data[0], "data_until_ns": data[1], "valid_from_ns": valid[0], "valid_until_ns": valid[1],
    }


def _period(v: Violations, field: str, period: common_pb2.Period | None) -> tuple[int | None, int | None]:
    if period is None:
        return None, None
    start = timestamp_ns(period.start) if period.HasField("start") else None
    end = timestamp_ns(period.end) if period.HasField("end") else None
    v.check(start is None or end is None or start < end, f"{field}.end", "must be after start")
    return start, end


def narrower_violations(v: Violations, field: str, old: dict, new: dict) -> None:
    """Narrowing may only take away: each list a subset, periods within, exceptions may grow.

    A broad consent ("*") covers every non-sensitive category and no sensitive one, so it may be
    narrowed to named non-sensitive categories, never to a sensitive one it did not name."""
    covered = set(old["categories"])
    if BROAD_CATEGORY in covered:
        covered |= {c for c in new["categories"] if c not in SENSITIVE_CATEGORIES}
    v.check(set(new["categories"]) <= covered, f"{field}.categories",
            "must be a subset of the current categories (a broad consent never covers a sensitive category)")
    v.check(set(new["purposes"]) <= set(old["purposes"]), f"{field}.purposes", "must be a subset of the current purposes")
    v.check(set(new["excepted"]) >= set(old["excepted"]), f"{field}.excepted_categories",
            "must keep every current exception")
    v.check(new["kind"] == old["kind"], f"{field}.kind", "must stay the same")
    for lo, hi, name in (("data_from_ns", "data_until_ns", "data_period"), ("valid_from_ns", "valid_until_ns", "validity")):
        v.check(old[lo] is None or (new[lo] is not None and new[lo] >= old[lo]), f"{field}.{name}.start",
                "must not start earlier than the current period")
        v.check(old[hi] is None or (new[hi] is not None and new[hi] <= old[hi]), f"{field}.{name}.end",
                "must not end later than the current period")


def terms_of(row: Consent) -> dict:
    return {
        "kind": row.kind, "categories": list(row.categories), "purposes": list(row.purposes),
        "excepted": list(row.excepted), "data_from_ns": row.data_from_ns, "data_until_ns": row.data_until_ns,
        "valid_from_ns": row.valid_from_ns, "valid_until_ns": row.valid_until_ns,
    }


def effective_status(row: Consent, now_ns: int) -> str:
    if row.status == "active" and row.valid_until_ns is not None and row.valid_until_ns <= now_ns:
        return "expired"
    return row.status


def expire_lapsed(s: Session, trail: AuditTrail, patient_id: str, now_ns: int | None = None) -> list[Consent]:
    """Marks the patient's consents whose validity has ended as expired, and ledgers each one
    ("consent.expired") the first time a write transaction observes it; returns them.

    Only for a write transaction: reads never write, they report expiry through
    `effective_status`. Decisions never wait for this: a lapsed consent is refused by the policy
    whether or not it was marked. The ledger tail lock is taken before the lapsed rows are re-read,
    so two concurrent callers cannot both ledger one expiry; nothing is locked if nothing lapsed.
    """
    now = now_ns if now_ns is not None else time.time_ns()
    lapsed = select(Consent).where(Consent.patient_id == patient_id, Consent.status == "active",
                                   Consent.valid_until_ns.is_not(None), Consent.valid_until_ns <= now)
    if s.execute(lapsed.with_only_columns(Consent.consent_id).limit(1)).first() is None:
        return []
    trail.writer(s)
    rows = list(s.scalars(lapsed.order_by(Consent.consent_id, Consent.version)
                          .execution_options(populate_existing=True)))
    for row in rows:
        row.status = "expired"
        trail.append(s, "consent.expired", SERVICE_ACTOR, patient_id=patient_id, consent=row.consent_id,
                     version=row.version, grantee="org:" + row.grantee, valid_until=rfc3339(row.valid_until_ns))
    return rows


def rfc3339(ns: int) -> str:
    """Epoch nanoseconds as an RFC 3339 instant in UTC, exactly: fraction digits only as needed."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    d = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}{fraction}Z"


def policy_consent(row: Consent, now_ns: int) -> dict:
    """A consent as the policy's input contract describes it."""
    return {
        "id": row.consent_id, "version": row.version, "grantee": row.grantee, "kind": row.kind,
        "categories": list(row.categories), "purposes": list(row.purposes), "excepted": list(row.excepted),
        "data_from": row.data_from_ns, "data_until": row.data_until_ns,
        "valid_from": row.valid_from_ns, "valid_until": row.valid_until_ns,
        "status": effective_status(row, now_ns),
    }


def _terms_pb(t: dict) -> pb.ConsentTerms:
    return pb.ConsentTerms(
        kind=_KIND_PB[t["kind"]], categories=t["categories"], purposes=t["purposes"],
        excepted_categories=t["excepted"],
        data_period=common_pb2.Period(start=to_timestamp(t["data_from_ns"]), end=to_timestamp(t["data_until_ns"])),
        validity=common_pb2.Period(start=to_timestamp(t["valid_from_ns"]), end=to_timestamp(t["valid_until_ns"])),
    )


def consent_pb(row: Consent, now_ns: int | None = None) -> pb.Consent:
    t = _terms_pb(terms_of(row))
    return pb.Consent(
        consent_id=row.consent_id, version=row.version, patient_id=row.patient_id, grantee=row.grantee,
        kind=t.kind, categories=t.categories, purposes=t.purposes, data_period=t.data_period,
        validity=t.validity, excepted_categories=t.excepted_categories,
        status=_STATUS_PB[effective_status(row, now_ns or time.time_ns())], created_by=row.created_by,
        create_time=to_timestamp(row.created_ns), revoke_time=to_timestamp(row.revoked_ns),
        revoke_reason=row.revoke_reason or "",
    )


def _request_pb(row: AccessRequest, now_ns: int) -> pb.AccessRequest:
    status = "expired" if row.status == "pending" and row.expire_ns <= now_ns else row.status
    return pb.AccessRequest(
        request_id=row.request_id, patient_id=row.patient_id, requester=row.requester,
        terms=_terms_pb(row.terms), reason=row.reason, status=_REQUEST_STATUS_PB[status],
        create_time=to_timestamp(row.created_ns), expire_time=to_timestamp(row.expire_ns),
        decide_time=to_timestamp(row.decided_ns), decline_reason=row.decline_reason or "",
        consent_id=row.consent_id or "",
    )


def _proxy_pb(row: Proxy, now_ns: int) -> pb.Proxy:
    return pb.Proxy(
        patient_id=row.patient_id, proxy_id=row.proxy_id, scopes=[_SCOPE_PB[s] for s in row.scopes],
        relationship=row.relationship, create_time=to_timestamp(row.created_ns),
        expire_time=to_timestamp(row.expire_ns), active=_proxy_active(row, now_ns),
    )


def _proxy_active(row: Proxy, now_ns: int) -> bool:
    return row.removed_ns is None and (row.expire_ns is None or row.expire_ns > now_ns)


# -- who may act for a patient ----------------------------------------------------------------

def acting_for(s: Session, patient_id: str, scope: str) -> Principal:
    """The caller, if it is the patient or an active proxy of the patient with `scope`."""
    principal = current_principal()
    principal.require("patient")
    if s.get(Person, patient_id) is None:
        raise NotFound("no patient with this id is enrolled")
    if principal.name == patient_id:
        return principal
    proxy = s.get(Proxy, (patient_id, principal.name))
    if proxy is None or not _proxy_active(proxy, time.time_ns()) or scope not in proxy.scopes:
        raise PermissionDenied("you may not act for this patient", [f"no active proxy with scope {scope}"])
    return principal


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
    acting_for(s, row.patient_id, "manage-consents")


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
            actor = acting_for(s, patient_id, "manage-consents")
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
            actor = acting_for(s, old.patient_id, "manage-consents")
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
            actor = acting_for(s, row.patient_id, "manage-consents")
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
                acting_for(s, request.patient_id, "manage-consents")
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
        from consentry.services import fhir_consent  # it imports this module

        v = Violations()
        v.uuid("consent_id", request.consent_id)
        v.raise_if_any()
        with self.app.db.read() as s:
            row = _latest(s, request.consent_id)
            _may_read_consent(s, row)
            return pb.ExportConsentResponse(fhir_json=json.dumps(fhir_consent.to_fhir(row), separators=(",", ":")))

    def ImportConsent(self, request, context):
        from consentry.services import fhir_consent  # it imports this module

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
            acting_for(s, row.patient_id, "manage-consents")
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
                acting_for(s, request.patient_id, "manage-consents")
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
        actor = acting_for(s, row.patient_id, "manage-consents")
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
            acting_for(s, request.patient_id, "read-history")
            pseudonym = self.app.trail.pseudonym(request.patient_id)
            seqs = s.scalars(select(LedgerSubject.seq).where(
                LedgerSubject.pseudonym == pseudonym, LedgerSubject.seq > after,
                LedgerSubject.kind.in_(("access.decision", "call.refused")),
            ).order_by(LedgerSubject.seq).limit(size + 1)).all()
            rows = s.execute(select(ledger_entries.c.seq, ledger_entries.c.entry)
                             .where(ledger_entries.c.seq.in_(seqs[:size])).order_by(ledger_entries.c.seq)).all()
        events = [_access_event(seq, json.loads(entry)) for seq, entry in rows]
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

