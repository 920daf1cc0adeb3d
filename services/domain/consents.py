"""A consent as data: its terms, how they are validated and narrowed, its status over time, and
the forms it takes on the wire (protobuf) and in the policy input."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.crypto import derived
from consentry.services.domain.validation import (
    BROAD_CATEGORY,
    CATEGORIES,
    EXPIRY_REQUIRED_CATEGORIES,
    EXPIRY_REQUIRED_KINDS,
    SENSITIVE_CATEGORIES,
    Violations,
    timestamp_ns,
    to_timestamp,
)
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import Consent, ServiceState
from consentry.v1 import common_pb2
from consentry.v1 import consent_pb2 as pb

log = logging.getLogger("consentry.consents")

# The ledger's actor for what the service records on no one's behalf (a consent lapsing).
SERVICE_ACTOR = "service"
_KINDS = {pb.CONSENT_KIND_TREATMENT: "treatment", pb.CONSENT_KIND_RESEARCH: "research"}
_KIND_PB = {v: k for k, v in _KINDS.items()}
_STATUS_PB = {
    "active": pb.CONSENT_STATUS_ACTIVE, "revoked": pb.CONSENT_STATUS_REVOKED,
    "expired": pb.CONSENT_STATUS_EXPIRED, "superseded": pb.CONSENT_STATUS_SUPERSEDED,
}


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
    expiry_violations(v, f"{field}.validity.end", kind, categories, valid[1])
    return {
        "kind": kind, "categories": sorted(set(categories)), "broad_categories": broad_categories_of(categories),
        "purposes": sorted(set(terms.purposes)),
        "excepted": sorted(set(terms.excepted_categories)),
        "data_from_ns": data[0], "data_until_ns": data[1], "valid_from_ns": valid[0], "valid_until_ns": valid[1],
    }


def broad_categories_of(categories: list[str]) -> list[str] | None:
    """What "*" among `categories` stands for: every non-sensitive category the vocabulary holds
    now, sorted, kept with the consent; None without "*". What the patient agrees to is fixed
    when they agree, so a category added to the vocabulary later is not covered (PIPL 14)."""
    if BROAD_CATEGORY not in categories:
        return None
    return sorted(c for c in CATEGORIES if c not in SENSITIVE_CATEGORIES)


def expiry_violations(v: Violations, field: str, kind: str | None, categories: list[str],
                      valid_until: int | None) -> None:
    """Authorisations and Part 2 consents must end (policy/data/consent_terms.json)."""
    if valid_until is not None:
        return
    if kind in EXPIRY_REQUIRED_KINDS:
        v.add(field, f"must be set: a {kind} consent is an authorisation and must end")
    elif required := sorted(EXPIRY_REQUIRED_CATEGORIES.intersection(categories)):
        v.add(field, f"must be set: a consent naming {', '.join(required)} must end")


def _period(v: Violations, field: str, period: common_pb2.Period | None) -> tuple[int | None, int | None]:
    if period is None:
        return None, None
    start = timestamp_ns(period.start) if period.HasField("start") else None
    end = timestamp_ns(period.end) if period.HasField("end") else None
    v.check(start is None or end is None or start < end, f"{field}.end", "must be after start")
    return start, end


def narrower_violations(v: Violations, field: str, old: dict, new: dict) -> None:
    """Narrowing may only take away: each list a subset, periods within, exceptions may grow.

    A broad consent ("*") covers the non-sensitive categories it was given for and no sensitive
    one, so it may be narrowed to some of those, never to a sensitive one it did not name."""
    covered = set(old["categories"])
    if BROAD_CATEGORY in covered:
        covered |= set(old.get("broad_categories") or ()) - set(SENSITIVE_CATEGORIES)
    v.check(set(new["categories"]) <= covered, f"{field}.categories",
            "must be a subset of the current categories (a broad consent never covers a sensitive category)")
    v.check(set(new["purposes"]) <= set(old["purposes"]), f"{field}.purposes",
            "must be a subset of the current purposes")
    v.check(set(new["excepted"]) >= set(old["excepted"]), f"{field}.excepted_categories",
            "must keep every current exception")
    v.check(new["kind"] == old["kind"], f"{field}.kind", "must stay the same")
    periods = (("data_from_ns", "data_until_ns", "data_period"), ("valid_from_ns", "valid_until_ns", "validity"))
    for lo, hi, name in periods:
        v.check(old[lo] is None or (new[lo] is not None and new[lo] >= old[lo]), f"{field}.{name}.start",
                "must not start earlier than the current period")
        v.check(old[hi] is None or (new[hi] is not None and new[hi] <= old[hi]), f"{field}.{name}.end",
                "must not end later than the current period")


def narrowed(old: dict, new: dict) -> dict:
    """The new terms as they take effect: "*" kept in a narrowing still stands for what it stood
    for when the patient first agreed, never for the vocabulary of today."""
    return {**new, "broad_categories": old.get("broad_categories") if BROAD_CATEGORY in new["categories"] else None}


def terms_of(row: Consent) -> dict:
    return {
        "kind": row.kind, "categories": list(row.categories), "broad_categories": row.broad_categories,
        "purposes": list(row.purposes),
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
    now = now_ns if now_ns is not None else clock.now_ns()
    lapsed = select(Consent).where(Consent.patient_id == patient_id, Consent.status == "active",
                                   Consent.valid_until_ns.is_not(None), Consent.valid_until_ns <= now)
    if s.execute(lapsed.with_only_columns(Consent.consent_id).limit(1)).first() is None:
        return []
    trail.writer(s)
    rows = list(s.scalars(lapsed.order_by(Consent.consent_id, Consent.version)
                          .execution_options(populate_existing=True)))
    for row in rows:
        assert row.valid_until_ns is not None  # the query selected only rows whose validity ended
        row.status = "expired"
        seal_consent(trail.pseudonym_key, row)
        trail.append(s, "consent.expired", SERVICE_ACTOR, patient_id=patient_id, consent=row.consent_id,
                     version=row.version, grantee="org:" + row.grantee,
                     valid_until=clock.rfc3339(row.valid_until_ns))
    return rows


def policy_consent(row: Consent, now_ns: int) -> dict:
    """A consent as the policy's input contract describes it."""
    return {
        "id": row.consent_id, "version": row.version, "grantee": row.grantee, "kind": row.kind,
        "categories": list(row.categories), "broad_categories": list(row.broad_categories or ()),
        "purposes": list(row.purposes), "excepted": list(row.excepted), "data_from": row.data_from_ns,
        "data_until": row.data_until_ns, "valid_from": row.valid_from_ns, "valid_until": row.valid_until_ns,
        "status": effective_status(row, now_ns),
    }


def terms_pb(t: dict) -> pb.ConsentTerms:
    return pb.ConsentTerms(
        kind=_KIND_PB[t["kind"]], categories=t["categories"], purposes=t["purposes"],
        excepted_categories=t["excepted"],
        data_period=common_pb2.Period(start=to_timestamp(t["data_from_ns"]), end=to_timestamp(t["data_until_ns"])),
        validity=common_pb2.Period(start=to_timestamp(t["valid_from_ns"]), end=to_timestamp(t["valid_until_ns"])),
    )


def consent_pb(row: Consent, now_ns: int | None = None) -> pb.Consent:
    t = terms_pb(terms_of(row))
    return pb.Consent(
        consent_id=row.consent_id, version=row.version, patient_id=row.patient_id, grantee=row.grantee,
        kind=t.kind, categories=t.categories, purposes=t.purposes, data_period=t.data_period,
        validity=t.validity, excepted_categories=t.excepted_categories,
        status=_STATUS_PB[effective_status(row, now_ns or clock.now_ns())], created_by=row.created_by,
        create_time=to_timestamp(row.created_ns), revoke_time=to_timestamp(row.revoked_ns),
        revoke_reason=row.revoke_reason or "", subject_id=row.subject_id or "", notice=_notice_ref(row),
        broad_categories=row.broad_categories or [],
    )


def _notice_ref(row: Consent) -> common_pb2.NoticeRef | None:
    if row.notice_id is None or row.notice_version is None or row.notice_sha256 is None:
        return None
    return common_pb2.NoticeRef(notice_id=row.notice_id, version=row.notice_version,
                                content_hash=bytes.fromhex(row.notice_sha256))


# --- integrity ----------------------------------------------------------------------------------

# The columns a consent row's MAC covers: every one the policy, the relationship or a research
# fetch acts on (docs/keys.md, "Consent rows").
MAC_FIELDS = ("consent_id", "version", "patient_id", "grantee", "kind", "categories", "broad_categories",
              "purposes", "excepted", "data_from_ns", "data_until_ns", "valid_from_ns", "valid_until_ns",
              "status", "revoked_ns", "subject_id")
MACS_STATE = "consent.macs"  # service_state: "pending" until the rows from before MACs have theirs


def consent_mac(secret: bytes, row: Consent) -> str:
    """HMAC-SHA256 (hex) under the consents' MAC key (crypto/derived.py) of the row's canonical
    form: the JSON array of MAC_FIELDS' values in that order, compact, keys none, UTF-8."""
    values = [getattr(row, name) for name in MAC_FIELDS]
    message = json.dumps(["consentry-consent-v1", *values], separators=(",", ":"), ensure_ascii=False)
    return derived.consent_mac(secret, message.encode("utf-8"))


def seal_consent(secret: bytes, row: Consent) -> None:
    """Sets the row's MAC; every change of a consent row calls this in its transaction."""
    row.mac = consent_mac(secret, row)


def intact(secret: bytes, rows: Iterable[Consent]) -> list[Consent]:
    """The rows whose MAC verifies. One that fails (a row changed outside the service) is left out
    of the decision, so nothing is disclosed on its basis, and logged without any identifier."""
    kept, failed = [], 0
    for row in rows:
        if row.mac is not None and hmac.compare_digest(row.mac, consent_mac(secret, row)):
            kept.append(row)
        else:
            failed += 1
    if failed:
        log.error("INTEGRITY ALARM: %d consent row(s) failed their MAC check (changed outside the service) "
                  "and were not used for a decision; see docs/keys.md, \"Consent rows\"", failed)
    return kept


def mac_missing(db: Database, secret: bytes) -> int:
    """Gives every consent row from before MACs its MAC, once (while "consent.macs" is pending);
    returns how many. Run at start-up, before calls are served."""
    with db.write() as s:
        state = s.get(ServiceState, MACS_STATE)
        if state is None or state.value != "pending":
            return 0
        rows = list(s.scalars(select(Consent).where(Consent.mac.is_(None))))
        for row in rows:
            s.execute(update(Consent).where(Consent.consent_id == row.consent_id, Consent.version == row.version)
                      .values(mac=consent_mac(secret, row)))
        state.value, state.updated_ns = "done", clock.now_ns()
    return len(rows)
