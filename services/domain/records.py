"""FHIR R4 deposits: validation, the closed category mapping, sensitivity labels, clinical date.

Only what is needed to file and govern a record is read from it; the body itself is stored
encrypted and never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from consentry.services.domain.validation import CATEGORIES, Violations, storable_ns

LABEL = re.compile(r"[A-Za-z0-9._-]{1,32}")
MAX_LABELS = 32

# resourceType -> category; None means the holder must say (the type alone does not tell).
CATEGORY_BY_TYPE: dict[str, str | None] = {
    "Patient": "demographics",
    "Encounter": "encounter",
    "Composition": "discharge-summary",
    "MedicationRequest": "medication",
    "MedicationStatement": "medication",
    "MedicationDispense": "medication",
    "MedicationAdministration": "medication",
    "AllergyIntolerance": "allergy",
    "Immunization": "immunization",
    "Procedure": "procedure",
    "Condition": "condition",
    "CarePlan": "care-plan",
    "ImagingStudy": "imaging",
    "DiagnosticReport": "lab",
    "Observation": None,
    "DocumentReference": None,
    "Bundle": None,
}
# Observation.category codes (HL7 observation-category) that settle the category.
OBSERVATION_CATEGORY = {"laboratory": "lab", "vital-signs": "vital-signs", "imaging": "imaging"}
# Where a resource names its clinical date, in order of preference.
DATE_FIELDS = ("effectiveDateTime", "occurrenceDateTime", "authoredOn", "issued", "date",
               "recordedDate", "onsetDateTime", "performedDateTime")
PERIOD_FIELDS = ("effectivePeriod", "period", "performedPeriod")


@dataclass(frozen=True)
class Deposit:
    resource_type: str
    category: str
    labels: list[str]
    effective_ns: int | None


def read_deposit(patient_id: str, body: bytes, labels: list[str], category: str, body_limit: int) -> Deposit:
    """Validates a deposit and derives its metadata; raises InvalidArgument naming the field."""
    v = Violations()
    resource = v.json_object("fhir_json", body, limit=body_limit, what="a FHIR R4 resource")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in CATEGORY_BY_TYPE:
        v.refuse("fhir_json.resourceType", "must be one of " + ", ".join(sorted(CATEGORY_BY_TYPE)))
    v.check(_names_patient(resource, patient_id), "fhir_json",
            "must reference the patient named by patient_id (subject, patient or Patient.id)")
    derived = _derived_category(resource)
    if category:
        v.check(category in CATEGORIES, "category", "must be a category from the vocabulary")
        v.check(derived is None or derived == category, "category",
                "must match the category this resource type determines, or be left empty")
    else:
        v.check(derived is not None, "category", "is required for this resource (its type does not determine one)")
    all_labels = sorted(set(labels) | set(_security_labels(resource)))
    # Every label is ledgered with the deposit, so a body cannot bring in more than a request could.
    v.check(len(all_labels) <= MAX_LABELS, "fhir_json",
            f"must carry at most {MAX_LABELS} distinct security labels, with those in labels")
    for i, label in enumerate(labels):
        v.check(bool(LABEL.fullmatch(label)), f"labels[{i}]", "must be a code of 1-32 letters, digits, '.', '_' or '-'")
    v.raise_if_any()
    filed_as = category or derived
    assert filed_as is not None  # neither given nor derived is a violation, raised above
    return Deposit(rtype, filed_as, all_labels, _clinical_date(resource))


def _resources(resource: dict) -> list[dict]:
    if resource.get("resourceType") != "Bundle":
        return [resource]
    entries = resource.get("entry")
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _names_patient(resource: dict, patient_id: str) -> bool:
    """Every resource that names a patient names this one, and at least one does."""
    wanted = f"Patient/{patient_id}"
    named = []
    for res in _resources(resource):
        if res.get("resourceType") == "Patient":
            named.append(res.get("id") == patient_id)
        for key in ("subject", "patient"):
            ref = res.get(key)
            if isinstance(ref, dict) and "reference" in ref:
                named.append(ref.get("reference") == wanted)
    return bool(named) and all(named)


def _derived_category(resource: dict) -> str | None:
    rtype = resource["resourceType"]
    if rtype == "Observation":
        for cat in resource.get("category") or []:
            for coding in (cat.get("coding") or []) if isinstance(cat, dict) else []:
                if isinstance(coding, dict) and coding.get("code") in OBSERVATION_CATEGORY:
                    return OBSERVATION_CATEGORY[coding["code"]]
        return None
    if rtype == "Bundle":
        first = _resources(resource)[:1]
        if resource.get("type") == "document" and first and first[0].get("resourceType") == "Composition":
            return "discharge-summary"
        return None
    return CATEGORY_BY_TYPE[rtype]


def _security_labels(resource: dict) -> list[str]:
    labels = []
    for res in _resources(resource):
        meta = res.get("meta")
        security = meta.get("security") if isinstance(meta, dict) else None
        for coding in security or []:
            code = coding.get("code") if isinstance(coding, dict) else None
            if isinstance(code, str) and LABEL.fullmatch(code):
                labels.append(code)
    return labels


def _clinical_date(resource: dict) -> int | None:
    res = _resources(resource)[0] if _resources(resource) else resource
    for key in DATE_FIELDS:
        if isinstance(res.get(key), str):
            return fhir_datetime_ns(res[key])
    for key in PERIOD_FIELDS:
        period = res.get(key)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            return fhir_datetime_ns(period["start"])
    return None


def fhir_datetime_ns(value: str) -> int | None:
    """A FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or full) as epoch ns; None if unreadable
    or outside the times the service stores."""
    ns = _datetime_ns(value)
    return ns if ns is not None and storable_ns(ns) else None


def _datetime_ns(value: str) -> int | None:
    text = value.strip()
    for fmt, size in (("%Y", 4), ("%Y-%m", 7), ("%Y-%m-%d", 10)):
        if len(text) == size:
            try:
                return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()) * 1_000_000_000
            except ValueError:
                return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1_000_000) * 1000
    except (ValueError, OverflowError):  # not a date, or one whose offset leaves year 1..9999
        return None
