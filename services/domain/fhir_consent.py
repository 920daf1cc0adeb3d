"""A consent as a FHIR R4 Consent resource (JSON), and back.

Mapping (docs/fhir-consent.md has the same table with an example):

    Consentry                       FHIR R4 Consent
    consent_id                      id
    status active                   status "active"; revoked, expired, superseded -> "inactive"
    kind treatment | research       scope consentscope#patient-privacy | consentscope#research
    (every consent)                 category LOINC#59284-0 (Patient consent)
    patient_id                      patient.reference "Patient/<id>"
    created (this version)          dateTime
    created_by "patient:<id>"       performer[0].reference "Patient/<id>"
    (every consent)                 policyRule v3-ActCode#OPTIN
    privacy notice (id, version,    policy[0].uri "urn:consentry:notice:<id>:<version>:sha256:<hex>"
      content hash)                 (export only: an import names its notice in the request)
    (every consent)                 provision.type "permit"
    validity                        provision.period
    data period                     provision.dataPeriod
    grantee                         provision.actor[0]: role v3-ParticipationType#IRCP,
                                    reference.identifier {system urn:consentry:institution, value}
    (read access)                   provision.action[0] consentaction#access
    purposes                        provision.purpose[] v3-ActReason codes
    categories ("*" = broad)        provision.class[] system urn:consentry:category ("*" imported:
                                    the non-sensitive categories of the vocabulary at the import)
    excepted categories             provision.provision[] of type "deny", class[] as above

Periods: Consentry's are half-open [start, end) in nanoseconds; they are written as RFC 3339
instants in UTC with as many fraction digits as needed, so an export imports exactly. On import a
start or end may also be a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD, taken in UTC); a date `end` is
inclusive, as FHIR says, so the period ends at the start of the following year, month or day.

Import is strict and fails closed: an element Consentry cannot honour (a restriction such as
provision.code or securityLabel, a modifierExtension, another actor role, another action, a code
outside the vocabularies) is refused rather than ignored, because ignoring a restriction would
widen the grant. Purely descriptive elements (id, meta, text, identifier, extension, dateTime,
performer, organization, ...) are accepted and not used: the importing principal becomes the
consent's creator. Violations name JSON paths into the resource, e.g. "fhir_json.provision.actor[0]";
a member that is no FHIR element at all is the caller's own text, so it is never echoed: the
violation names the object that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from consentry.services import clock
from consentry.services.clock import rfc3339
from consentry.services.domain.consents import broad_categories_of, effective_status, expiry_violations
from consentry.services.domain.validation import (
    BROAD_CATEGORY,
    CATEGORIES,
    INSTITUTION_ID,
    PERSON_ID,
    PURPOSES,
    TIME_RANGE,
    Violations,
    storable_ns,
)
from consentry.services.store.models import Consent

MAX_JSON_CHARS = 64 * 1024
SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
CONSENT_DOCUMENT = "59284-0"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
INSTITUTION = "urn:consentry:institution"
CATEGORY = "urn:consentry:category"
NOTICE = "urn:consentry:notice"
_SCOPE_BY_KIND = {"treatment": "patient-privacy", "research": "research"}
_KIND_BY_SCOPE = {v: k for k, v in _SCOPE_BY_KIND.items()}

# Elements read, elements accepted but not used, per object; anything else is refused.
_DESCRIPTIVE = {"id", "extension"}
# `policy` may only name the privacy notice the import is given under (named_notice).
_TOP = {"resourceType", "status", "scope", "category", "patient", "policyRule", "provision", "policy"}
_NOTICE_URI = re.compile(NOTICE + r":[0-9a-f-]{36}:[1-9][0-9]{0,9}:sha256:[0-9a-f]{64}")
_TOP_IGNORED = _DESCRIPTIVE | {"meta", "text", "language", "identifier", "dateTime", "performer", "organization",
                               "verification", "sourceAttachment", "sourceReference", "contained"}
_PROVISION = {"type", "period", "dataPeriod", "actor", "action", "purpose", "class", "provision"}
_CODING = {"system", "code", "display", "version", "userSelected"}
_UNSUPPORTED = "is not supported: Consentry cannot honour it, and ignoring it could widen the consent"
_UNKNOWN_MEMBER = "has a member that is not a FHIR R4 element Consentry knows; ignoring it could widen the consent"
# Every element name of FHIR R4 Consent and the types it uses (Consent.provision, CodeableConcept,
# Coding, Reference, Identifier, Period, Attachment): a violation may name these, a fixed vocabulary.
_FHIR_ELEMENTS = frozenset({
    "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension",
    "identifier", "status", "scope", "category", "patient", "dateTime", "performer", "organization",
    "sourceAttachment", "sourceReference", "policy", "policyRule", "verification", "provision",
    "type", "period", "actor", "role", "reference", "action", "securityLabel", "purpose", "class", "code",
    "dataPeriod", "data", "meaning", "authority", "uri", "verified", "verifiedWith", "verificationDate",
    "coding", "system", "version", "display", "userSelected", "use", "value", "assigner", "start", "end",
    "contentType", "url", "size", "hash", "title", "creation",
})
_DATETIME = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                       r"(Z|[+-]\d{2}:\d{2}))?)?)?")


# -- export ------------------------------------------------------------------------------------

def to_fhir(row: Consent, now_ns: int | None = None) -> dict:
    """The consent version `row` as a FHIR R4 Consent resource (a JSON-ready dict)."""
    provision: dict = {"type": "permit"}
    provision.update(_period_json("period", row.valid_from_ns, row.valid_until_ns))
    provision["actor"] = [{
        "role": _concept(PARTICIPATION, "IRCP"),
        "reference": {"identifier": {"system": INSTITUTION, "value": row.grantee}},
    }]
    provision["action"] = [_concept(ACTION, "access")]
    provision["purpose"] = [_coding(ACT_REASON, p) for p in sorted(row.purposes)]
    provision["class"] = [_coding(CATEGORY, c) for c in sorted(row.categories)]
    provision.update(_period_json("dataPeriod", row.data_from_ns, row.data_until_ns))
    if row.excepted:
        provision["provision"] = [{"type": "deny", "class": [_coding(CATEGORY, c) for c in sorted(row.excepted)]}]
    status = effective_status(row, now_ns if now_ns is not None else clock.now_ns())
    return {
        "resourceType": "Consent",
        "id": row.consent_id,
        "status": "active" if status == "active" else "inactive",
        "scope": _concept(SCOPE, _SCOPE_BY_KIND[row.kind]),
        "category": [_concept(LOINC, CONSENT_DOCUMENT)],
        "patient": {"reference": "Patient/" + row.patient_id},
        "dateTime": rfc3339(row.created_ns),
        "performer": [{"reference": "Patient/" + row.created_by.split(":", 1)[1]}],
        "policyRule": _concept(ACT_CODE, "OPTIN"),
        **_notice_policy(row),
        "provision": provision,
    }


def _notice_policy(row: Consent) -> dict:
    """The privacy notice the version was given under, as `policy[0].uri` (docs/fhir-consent.md)."""
    if row.notice_id is None or row.notice_version is None or row.notice_sha256 is None:
        return {}
    return {"policy": [{"uri": notice_uri(row.notice_id, row.notice_version, row.notice_sha256)}]}


def notice_uri(notice_id: str, version: int, sha256_hex: str) -> str:
    return f"{NOTICE}:{notice_id}:{version}:sha256:{sha256_hex}"


def named_notice(doc: dict) -> str | None:
    """The notice URI an imported resource's `policy` names (from_fhir checked its form), if any."""
    policy = doc.get("policy")
    return policy[0]["uri"] if isinstance(policy, list) and policy else None


def _coding(system: str, code: str) -> dict:
    return {"system": system, "code": code}


def _concept(system: str, code: str) -> dict:
    return {"coding": [_coding(system, code)]}


def _period_json(name: str, start: int | None, end: int | None) -> dict:
    period = {k: rfc3339(v) for k, v in (("start", start), ("end", end)) if v is not None}
    return {name: period} if period else {}


# -- import ------------------------------------------------------------------------------------

def parse_json(text: str) -> dict:
    """The request's fhir_json as a JSON object; raises InvalidArgument("fhir_json") otherwise."""
    doc: dict = Violations().json_object("fhir_json", text, limit=MAX_JSON_CHARS, what="a FHIR R4 Consent resource")
    return doc


def from_fhir(doc: dict) -> tuple[str, str, dict]:
    """(patient_id, grantee, terms) from a FHIR R4 Consent; terms as consent.parse_terms makes them.

    Raises InvalidArgument listing every problem, each named by its JSON path."""
    r = _Reader()
    # Another resource type's elements would only be noise: say that one thing.
    if not (r.v.check(isinstance(doc, dict), "fhir_json", "must be a JSON object (a FHIR R4 Consent resource)")
            and r.v.check(doc.get("resourceType") == "Consent", "fhir_json.resourceType", "must be \"Consent\"")):
        r.v.raise_if_any()
    r.obj("fhir_json", doc, _TOP, _TOP_IGNORED)
    r.v.check(doc.get("status") == "active", "fhir_json.status",
              "must be \"active\": only an active consent can be imported as a grant")
    scope = r.concept("fhir_json.scope", doc.get("scope"), SCOPE, set(_KIND_BY_SCOPE))
    categories = doc.get("category")
    if not isinstance(categories, list) or not categories:
        r.v.add("fhir_json.category", f"must be a list of codings of LOINC {CONSENT_DOCUMENT}")
        categories = []
    for i, c in enumerate(categories):
        r.concept(f"fhir_json.category[{i}]", c, LOINC, {CONSENT_DOCUMENT})
    r.concept("fhir_json.policyRule", doc.get("policyRule"), ACT_CODE, {"OPTIN"})
    r.notice_policy("fhir_json.policy", doc.get("policy"))
    patient_id = r.patient("fhir_json.patient", doc.get("patient"))
    grantee, terms = r.provision("fhir_json.provision", doc.get("provision"))
    if scope is not None and terms:
        terms["broad_categories"] = broad_categories_of(terms["categories"])
        expiry_violations(r.v, "fhir_json.provision.period.end", _KIND_BY_SCOPE[scope], terms["categories"],
                          terms["valid_until_ns"])
    r.v.raise_if_any()
    # Each reader returns None only where it recorded a violation, and those were raised.
    assert scope is not None and patient_id is not None and grantee is not None
    terms["kind"] = _KIND_BY_SCOPE[scope]
    return patient_id, grantee, terms


class _Reader:
    """Checks one element at a time, collecting violations; each check returns what it read.

    Values are parsed JSON (hence `Any`), each checked before it is used."""

    def __init__(self) -> None:
        self.v = Violations()

    def obj(self, path: str, value: Any, allowed: Set[str], ignored: Set[str] = frozenset(),
            required: bool = True) -> bool:
        if value is None and not required:
            return False
        if not self.v.check(isinstance(value, dict), path, "must be a JSON object"):
            return False
        unsupported = set(value) - allowed - ignored - _DESCRIPTIVE
        for key in sorted(unsupported & _FHIR_ELEMENTS):
            self.v.add(f"{path}.{key}", _UNSUPPORTED)
        # Any other member name is the caller's own text: never echoed, the object is named instead.
        self.v.check(unsupported <= _FHIR_ELEMENTS, path, _UNKNOWN_MEMBER)
        return True

    def notice_policy(self, path: str, value: Any) -> None:
        """At most one policy, a Consentry privacy notice: any other policy could restrict the
        consent in ways Consentry cannot honour."""
        policies = self.items(path, value, required=False)
        self.v.check(len(policies) <= 1, path, "must name at most one policy: the privacy notice")
        for i, policy in enumerate(policies[:1]):
            if self.obj(f"{path}[{i}]", policy, {"uri"}):
                self.v.check(isinstance(policy.get("uri"), str) and bool(_NOTICE_URI.fullmatch(policy["uri"])),
                             f"{path}[{i}].uri", f"must be a privacy notice: {NOTICE}:<id>:<version>:sha256:<hex>")

    def items(self, path: str, value: Any, *, required: bool) -> list[Any]:
        if value is None and not required:
            return []
        if not self.v.check(isinstance(value, list) and (bool(value) or not required), path,
                            "must be a non-empty list" if required else "must be a list"):
            return []
        return value

    def coding(self, path: str, value: Any, system: str, codes: set[str]) -> str | None:
        if not self.obj(path, value, _CODING):
            return None
        code = value.get("code")
        ok = value.get("system") == system and isinstance(code, str) and code in codes
        self.v.check(ok, path, f"must be a code of {system}: " + ", ".join(sorted(codes)))
        return code if ok else None

    def codings(self, path: str, value: Any, system: str, codes: set[str], what: str) -> list[str]:
        read = [self.coding(f"{path}[{i}]", c, system, codes)
                for i, c in enumerate(self.items(path, value, required=True))]
        found = [c for c in read if c is not None]
        self.v.check(len(set(found)) == len(found), path, f"must not repeat a {what}")
        return found

    def concept(self, path: str, value: Any, system: str, codes: set[str]) -> str | None:
        """A CodeableConcept holding exactly one coding, from `codes`."""
        if not self.obj(path, value, {"coding", "text"}):
            return None
        found = self.items(f"{path}.coding", value.get("coding"), required=True)
        if not self.v.check(len(found) <= 1, f"{path}.coding", "must hold exactly one coding"):
            return None
        return self.coding(f"{path}.coding[0]", found[0], system, codes) if found else None

    def patient(self, path: str, value: Any) -> str | None:
        if not self.obj(path, value, {"reference", "display", "type"}):
            return None
        ref = value.get("reference")
        ok = isinstance(ref, str) and ref.startswith("Patient/") and bool(PERSON_ID.fullmatch(ref[len("Patient/"):]))
        self.v.check(ok, f"{path}.reference", "must be \"Patient/<patient id>\"")
        return ref[len("Patient/"):] if ok else None

    def period(self, path: str, value: Any) -> tuple[int | None, int | None]:
        if not self.obj(path, value, {"start", "end"}, required=False):
            return None, None
        start = self.instant(f"{path}.start", value.get("start"), end=False)
        end = self.instant(f"{path}.end", value.get("end"), end=True)
        self.v.check(start is None or end is None or start < end, f"{path}.end", "must be after start")
        return start, end

    def instant(self, path: str, value: Any, *, end: bool) -> int | None:
        if value is None:
            return None
        ns = parse_datetime(value, end=end) if isinstance(value, str) else None
        if not self.v.check(ns is not None, path, "must be a FHIR dateTime (a date, or a time with a time zone)"):
            return None
        assert ns is not None  # checked just above
        return ns if self.v.check(storable_ns(ns), path, TIME_RANGE) else None

    def actor(self, path: str, value: Any) -> str | None:
        if not self.obj(path, value, {"role", "reference"}):
            return None
        self.concept(f"{path}.role", value.get("role"), PARTICIPATION, {"IRCP"})
        ref = value.get("reference")
        if not self.obj(f"{path}.reference", ref, {"identifier", "display", "type"}):
            return None
        ident = ref.get("identifier")
        if not self.obj(f"{path}.reference.identifier", ident, {"system", "value", "use"}):
            return None
        value = ident.get("value")
        ok = ident.get("system") == INSTITUTION and isinstance(value, str) and bool(INSTITUTION_ID.fullmatch(value))
        self.v.check(ok, f"{path}.reference.identifier",
                     f"must be {{system {INSTITUTION}, value <registered institution id>}}")
        return value if ok else None

    def provision(self, path: str, value: Any) -> tuple[str | None, dict]:
        if not self.obj(path, value, _PROVISION):
            return None, {}
        self.v.check(value.get("type") == "permit", f"{path}.type", "must be \"permit\"")
        actors = self.items(f"{path}.actor", value.get("actor"), required=True)
        self.v.check(len(actors) <= 1, f"{path}.actor", "must name exactly one recipient institution")
        grantee = self.actor(f"{path}.actor[0]", actors[0]) if actors else None
        for i, action in enumerate(self.items(f"{path}.action", value.get("action"), required=True)):
            self.concept(f"{path}.action[{i}]", action, ACTION, {"access"})
        purposes = self.codings(f"{path}.purpose", value.get("purpose"), ACT_REASON, set(PURPOSES), "purpose")
        categories = self.codings(f"{path}.class", value.get("class"), CATEGORY, set(CATEGORIES) | {BROAD_CATEGORY},
                                  "category")
        excepted: set[str] = set()
        for i, deny in enumerate(self.items(f"{path}.provision", value.get("provision"), required=False)):
            here = f"{path}.provision[{i}]"
            if self.obj(here, deny, {"type", "class"}):
                self.v.check(deny.get("type") == "deny", f"{here}.type", "must be \"deny\" (an excepted category)")
                excepted |= set(self.codings(f"{here}.class", deny.get("class"), CATEGORY, set(CATEGORIES), "category"))
        valid = self.period(f"{path}.period", value.get("period"))
        data = self.period(f"{path}.dataPeriod", value.get("dataPeriod"))
        return grantee, {
            "categories": sorted(set(categories)), "purposes": sorted(set(purposes)), "excepted": sorted(excepted),
            "data_from_ns": data[0], "data_until_ns": data[1], "valid_from_ns": valid[0], "valid_until_ns": valid[1],
        }


def parse_datetime(text: str, *, end: bool = False) -> int | None:
    """A FHIR date or dateTime as epoch nanoseconds, exactly; None if it is not one.

    A date (no time) is the start of that year, month or day in UTC; as the `end` of a period,
    whose end FHIR counts as included, it is the start of the next one."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, zone = m.groups()
    try:
        if hh is None:
            start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
            if not end:
                stamp = start
            elif day:
                stamp = start + timedelta(days=1)
            elif month:
                stamp = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
            else:
                stamp = start.replace(year=start.year + 1)
            return _epoch_ns(stamp, 0)
        tz = UTC if zone == "Z" else timezone(
            (-1 if zone[0] == "-" else 1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        stamp = datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except (ValueError, OverflowError):
        return None
    return _epoch_ns(stamp, int((frac or "").ljust(9, "0")))


def _epoch_ns(stamp: datetime, nanos: int) -> int:
    delta = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000 + nanos
