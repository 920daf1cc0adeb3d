"""The category and date rules as data (policy/data/deposit/), and a deposit reader that never
fails on a malformed body with anything but INVALID_ARGUMENT."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.services.config import DEFAULT_MAX_BODY_BYTES
from consentry.services.domain.categories import DUTIES_FILE, CategoryRules, Filed
from consentry.services.domain.categories import RULES_FILE as CATEGORIES_FILE
from consentry.services.domain.clinical_dates import DATES_FILE
from consentry.services.domain.records import DepositRules, read_deposit
from consentry.services.domain.references import PatientIdentity
from consentry.services.errors import InvalidArgument

RULES = DepositRules.load()
DOCS = Path(__file__).resolve().parents[3] / "docs" / "labelling.md"
V2_0074, LOINC = "http://terminology.hl7.org/CodeSystem/v2-0074", "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"


def coded(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


@pytest.mark.parametrize(("resource", "category"), [
    ({"resourceType": "DiagnosticReport", "category": [coded(V2_0074, "RAD")]}, "imaging"),
    ({"resourceType": "DiagnosticReport", "category": [coded(LOINC, "LP29684-5")]}, "imaging"),
    ({"resourceType": "DiagnosticReport", "category": [coded(V2_0074, "EC")]}, "clinical-test"),
    ({"resourceType": "DiagnosticReport", "category": [coded(LOINC, "LP29708-2")]}, "clinical-test"),
    ({"resourceType": "DiagnosticReport", "category": [coded(V2_0074, "LAB")]}, "lab"),
    ({"resourceType": "DiagnosticReport", "code": coded(LOINC, "38269-7")}, "imaging"),
    ({"resourceType": "DiagnosticReport", "code": coded(LOINC, "69409-1"), "category": [coded(V2_0074, "LAB")]},
     "clinical-note"),
    ({"resourceType": "DiagnosticReport", "code": coded(LOINC, "34117-2")}, "clinical-note"),
    ({"resourceType": "DiagnosticReport"}, "other"),
    ({"resourceType": "DocumentReference", "type": coded(LOINC, "18842-5")}, "discharge-summary"),
    ({"resourceType": "DocumentReference", "type": coded(LOINC, "11488-4")}, "clinical-note"),
    ({"resourceType": "DocumentReference"}, "clinical-note"),
    ({"resourceType": "Composition", "type": coded(LOINC, "60591-5")}, "clinical-note"),
    ({"resourceType": "Observation", "category": [coded(OBSERVATION_CATEGORY, "social-history")]}, "social-history"),
    ({"resourceType": "Observation", "category": [coded(US_CORE_CATEGORY, "sdoh")]}, "social-history"),
    ({"resourceType": "Observation", "category": [coded(OBSERVATION_CATEGORY, "survey")]}, "survey"),
    ({"resourceType": "Observation", "category": [coded(OBSERVATION_CATEGORY, "exam")]}, "exam"),
    ({"resourceType": "Observation", "category": [coded(OBSERVATION_CATEGORY, "procedure")]}, "clinical-test"),
    ({"resourceType": "Observation", "category": [{"coding": [{"code": "laboratory"}]}]}, "lab"),
    ({"resourceType": "Observation", "code": coded(LOINC, "72166-2")}, "social-history"),
    ({"resourceType": "Observation", "code": coded(LOINC, "8867-4")}, "vital-signs"),
    ({"resourceType": "Observation", "code": coded(LOINC, "15074-8")}, "other"),
    ({"resourceType": "Claim"}, "other"),
], ids=lambda x: json.dumps(x) if isinstance(x, dict) else x)
def test_category_rules(resource, category):
    assert RULES.categories.of(resource).category == category


@pytest.mark.parametrize(("resource", "day"), [
    ({"resourceType": "MedicationDispense", "whenHandedOver": "2026-02-03T10:00:00Z"}, "2026-02-03"),
    ({"resourceType": "MedicationDispense", "whenPrepared": "2026-02-02"}, "2026-02-02"),
    ({"resourceType": "Observation", "effectiveInstant": "2026-02-04T06:07:08.123Z"}, "2026-02-04"),
    ({"resourceType": "Observation", "effectiveTiming": {"event": ["2026-02-05"]}}, "2026-02-05"),
    ({"resourceType": "Observation", "issued": "2026-02-06T00:00:00Z"}, "2026-02-06"),
    ({"resourceType": "Composition", "date": "2026-02-07"}, "2026-02-07"),
    ({"resourceType": "Bundle", "timestamp": "2026-02-08T09:00:00+08:00"}, "2026-02-08"),
    ({"resourceType": "Encounter", "period": {"end": "2026-02-09"}}, "2026-02-09"),
    ({"resourceType": "DocumentReference", "context": {"period": {"start": "2026-02-10"}}, "date": "2026-03-01"},
     "2026-02-10"),
    ({"resourceType": "Specimen", "collection": {"collectedDateTime": "2026-02-11"}}, "2026-02-11"),
    ({"resourceType": "QuestionnaireResponse", "authored": "2026-02-12"}, "2026-02-12"),
    ({"resourceType": "Condition", "onsetDateTime": "not a date", "recordedDate": "2026-02-13"}, "2026-02-13"),
])
def test_date_rules_read_every_date_element_of_a_type(resource, day):
    ns = RULES.dates.of(resource)
    assert ns is not None
    assert datetime.fromtimestamp(ns / 1e9, UTC).date() == date.fromisoformat(day)


@pytest.mark.parametrize("resource", [
    {"resourceType": "Patient", "birthDate": "1970-01-01"},
    {"resourceType": "Observation", "effectiveDateTime": ["2026-01-01"]},
    {"resourceType": "Observation", "effectivePeriod": "2026-01-01"},
    {"resourceType": "Observation", "effectiveDateTime": "3026-01-01"},
])
def test_no_date_or_an_unreadable_one_is_none(resource):
    assert RULES.dates.of(resource) is None


def test_docs_list_the_date_elements_of_every_type():
    text = DOCS.read_text().split("## Clinical dates", 1)[1].split("\n## ", 1)[0]
    rules = json.loads(DATES_FILE.read_text())
    for rtype, elements in rules["types"].items():
        row = re.search(rf"^\| {rtype} \| ([^|]*) \|$", text, re.MULTILINE)
        assert row is not None, f"docs/labelling.md has no date row for {rtype}"
        assert row.group(1).strip() == (", ".join(f"`{e}`" for e in elements) or "none")


# -- a malformed body is INVALID_ARGUMENT, never anything else ---------------------------------

SAMPLE = {
    "resourceType": "Bundle", "type": "collection", "timestamp": "2026-01-01",
    "entry": [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "p1",
                                                     "identifier": [{"system": "urn:x", "value": "1"}]}},
              {"resource": {"resourceType": "MedicationRequest", "subject": {"reference": "urn:uuid:1"},
                            "medicationCodeableConcept": coded("http://www.nlm.nih.gov/research/umls/rxnorm", "312938"),
                            "reasonCode": [coded("http://snomed.info/sct", "35489007")],
                            "meta": {"security": [{"code": "R"}]}, "contained": [{"resourceType": "Medication"}]}}],
}
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=8)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*prefix, i))


PATHS = [p for p in _paths(SAMPLE) if p]


def _replaced(doc, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = _replaced(doc[head], rest, value)
    return copy


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON_VALUES)
def test_any_member_of_any_json_type_is_read_or_refused(path, value):
    body = json.dumps(_replaced(SAMPLE, path, value)).encode()
    with contextlib.suppress(InvalidArgument):  # anything else fails the test
        read_deposit(PatientIdentity("p1"), body, [], "", DEFAULT_MAX_BODY_BYTES, RULES)


def test_category_rules_that_would_derive_a_sensitive_category_are_refused():
    doc = json.loads(CATEGORIES_FILE.read_text())
    doc["types"]["Condition"] = "mental-health"
    with pytest.raises(ValueError, match="not clinical categories of the vocabulary: mental-health"):
        CategoryRules(doc, json.loads(DUTIES_FILE.read_text()))


def test_a_bundle_takes_the_category_the_fewest_duties_may_read():
    filed = [Filed("lab", True), Filed("survey", True), Filed("other", False)]
    assert RULES.categories.most_restricted(filed) == Filed("other", True)
    assert RULES.categories.most_restricted(filed[:2]) == Filed("survey", True)
