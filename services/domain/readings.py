"""Home-monitoring readings a patient (or their proxy) deposits (docs/readings.md).

A reading is a FHIR R4 vital-signs Observation of a kind policy/data/deposit/readings.json lists,
with UCUM units and a plausible value, about the patient, taken no later than now. It is stamped
patient-reported (the Patient as performer, a meta.tag) before it goes the way of every deposit:
R4 validation, references, category and labels (records.read_deposit).
"""

from __future__ import annotations

import json
from typing import Any

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.clinical_dates import fhir_datetime_ns
from consentry.services.domain.validation import Violations

READINGS_FILE = POLICY_DIR / "data" / "deposit" / "readings.json"
_RULES = json.loads(READINGS_FILE.read_text())
LOINC, UCUM, KINDS = _RULES["loinc"], _RULES["ucum"], _RULES["kinds"]
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
# The holder of a reading: no institution id can be it (INSTITUTION_ID has no '@').
PATIENT_REPORTED = "@patient-reported"
ORIGIN_TAG = {"system": "urn:consentry:origin", "code": "patient-reported", "display": "Patient-reported"}
# A device clock a little ahead of ours is not a reading from the future.
CLOCK_SKEW_NS = 5 * 60 * 1_000_000_000


def check_reading(v: Violations, body: Any, patient_id: str, now_ns: int) -> None:
    """Adds a violation, named by its body path under `fhir_json`, for each way `body` is not
    a reading of the patient's."""
    if not isinstance(body, dict) or body.get("resourceType") != "Observation":
        v.refuse("fhir_json.resourceType", "must be Observation")
    v.check(_has_vital_signs(body.get("category")), "fhir_json.category",
            f"must include the {CATEGORY_SYSTEM} code vital-signs")
    subject = body.get("subject")
    v.check(isinstance(subject, dict) and subject.get("reference") == f"Patient/{patient_id}",
            "fhir_json.subject.reference", "must be Patient/<patient_id>: a reading is the patient's own")
    _check_effective(v, body, now_ns)
    code = _loinc_code(body.get("code"))
    if code not in KINDS:
        v.add("fhir_json.code.coding", "must hold a LOINC code of a home reading: " + ", ".join(KINDS))
        return
    kind = KINDS[code]
    if "components" in kind:
        _check_components(v, body.get("component"), kind["components"])
    else:
        _check_quantity(v, "fhir_json.valueQuantity", body.get("valueQuantity"), kind["units"])


def stamped(body: dict, patient_id: str) -> bytes:
    """The reading marked patient-reported: the Patient its performer, the origin tag in meta."""
    out = dict(body)
    out["performer"] = [{"reference": f"Patient/{patient_id}"}]
    meta = dict(out.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if t != ORIGIN_TAG]
    meta["tag"] = [*tags, ORIGIN_TAG]
    out["meta"] = meta
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()


def _has_vital_signs(categories: Any) -> bool:
    for concept in categories if isinstance(categories, list) else []:
        for coding in (concept.get("coding") or []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == CATEGORY_SYSTEM \
                    and coding.get("code") == "vital-signs":
                return True
    return False


def _loinc_code(concept: Any) -> str | None:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == LOINC and coding.get("code") in KINDS:
            return str(coding["code"])
    return None


def _check_effective(v: Violations, body: dict, now_ns: int) -> None:
    when = body.get("effectiveDateTime", body.get("effectiveInstant"))
    field = "fhir_json.effectiveInstant" if "effectiveInstant" in body else "fhir_json.effectiveDateTime"
    ns = fhir_datetime_ns(when) if isinstance(when, str) and "T" in when else None
    if ns is None:
        v.add(field, "must be the date and time the reading was taken")
    else:
        v.check(ns <= now_ns + CLOCK_SKEW_NS, field, "must not be in the future")


def _check_components(v: Violations, components: Any, wanted: dict[str, dict]) -> None:
    found: dict[str, int] = {}
    for i, component in enumerate(components if isinstance(components, list) else []):
        code = _component_code(component, wanted)
        if code is None or code in found:
            v.add(f"fhir_json.component[{i}].code", "must be one of " + ", ".join(wanted) + ", each once")
            continue
        found[code] = i
        _check_quantity(v, f"fhir_json.component[{i}].valueQuantity", component.get("valueQuantity"),
                        wanted[code]["units"])
    missing = [code for code in wanted if code not in found]
    v.check(not missing, "fhir_json.component", "must hold a component for each of " + ", ".join(wanted))


def _component_code(component: Any, wanted: dict[str, dict]) -> str | None:
    codings = (component.get("code") or {}).get("coding") if isinstance(component, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == LOINC and coding.get("code") in wanted:
            return str(coding["code"])
    return None


def _check_quantity(v: Violations, field: str, quantity: Any, units: dict[str, list[float]]) -> None:
    if not isinstance(quantity, dict):
        v.add(field, "is required: a Quantity in UCUM units")
        return
    unit = quantity.get("code")
    if quantity.get("system") != UCUM or unit not in units:
        v.add(f"{field}.code", f"must be a UCUM unit ({UCUM}) of " + ", ".join(units))
        return
    value = quantity.get("value")
    low, high = units[unit]
    if isinstance(value, bool) or not isinstance(value, int | float):
        v.add(f"{field}.value", "must be a number")
    else:
        v.check(low <= value <= high, f"{field}.value", f"must be between {low} and {high} {unit}")
