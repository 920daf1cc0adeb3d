"""FHIR R4 deposits: what a record is filed and governed by, read from its body
(docs/labelling.md).

The body must be a valid FHIR R4 resource (fhir_validation.py) about the patient (references.py).
Its category comes from the category rules (categories.py), its labels from the labelling step (labelling.py) plus the
body's `meta.security` and the holder's labels, its clinical date from the date rules
(clinical_dates.py). A Bundle is filed whole, as one record: labelled with every label of every
entry, under its document's category or the most restricted of its entries', dated by its
timestamp, its document's date or its latest entry. Only what is needed to file and govern the record is read; the body
itself is stored encrypted and never logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.categories import CategoryRules, Filed
from consentry.services.domain.clinical_dates import DateRules
from consentry.services.domain.fhir_validation import fhir_violations
from consentry.services.domain.fhir_walk import Found, resource_type, resources
from consentry.services.domain.labelling import VALUE_SET, Labeller, LabelReason
from consentry.services.domain.references import PatientIdentity, not_about_patient
from consentry.services.domain.validation import CATEGORIES, SENSITIVE_CATEGORIES, Violations
from consentry.services.domain.valuesets import load_value_sets

LABEL = re.compile(r"[A-Za-z0-9._-]{1,32}")
MAX_LABELS = 32
R4_TYPES = frozenset(json.loads((POLICY_DIR / "data" / "deposit" / "resource-types.json").read_text())["types"])
NOT_ABOUT_PATIENT = ("must name the patient of patient_id: as Patient/<id> (relative, absolute or with /_history/), "
                     "a urn:uuid: or contained reference to a Patient that is them, or an identifier they were "
                     "enrolled with")
NO_PATIENT = "must name the patient of patient_id, in a subject, a patient or a Patient resource"
CATEGORY_MISMATCH = ("must be empty, the category the resource determines, or a sensitive category "
                     "(docs/labelling.md, \"Categories\")")


@dataclass(frozen=True)
class Deposit:
    resource_type: str
    category: str
    labels: list[str]
    effective_ns: int | None
    label_reasons: tuple[LabelReason, ...] = ()


@dataclass(frozen=True)
class DepositRules:
    """The data a deposit is read by, loaded once at start."""

    categories: CategoryRules
    dates: DateRules
    labeller: Labeller

    @classmethod
    def load(cls, valueset_dirs: Sequence[Path] = ()) -> DepositRules:
        return cls(CategoryRules.load(), DateRules.load(), Labeller(load_value_sets(valueset_dirs)))


def read_deposit(patient: PatientIdentity, body: bytes, labels: list[str], category: str, body_limit: int,
                 rules: DepositRules) -> Deposit:
    """Validates a deposit and derives its metadata; raises InvalidArgument naming the field."""
    v = Violations()
    resource = v.json_object("fhir_json", body, limit=body_limit, what="a FHIR R4 resource")
    rtype = resource_type(resource)
    if rtype not in R4_TYPES:
        v.refuse("fhir_json.resourceType", "must be a FHIR R4 resource type")
    for field, why in fhir_violations(resource):
        v.add(field, why)
    wrong = not_about_patient(resource, patient)
    if wrong is not None:
        v.add(_field(wrong), NOT_ABOUT_PATIENT if wrong else NO_PATIENT)
    for i, label in enumerate(labels):
        v.check(bool(LABEL.fullmatch(label)), f"labels[{i}]", "must be a code of 1-32 letters, digits, '.', '_' or '-'")
    reasons = rules.labeller.label(resource, labels)
    # Every label is ledgered with the deposit, so a body cannot bring in more than a request could;
    # the derived ones come from the closed set of labels.json.
    given = {r.label for r in reasons if r.source != VALUE_SET}
    v.check(len(given) <= MAX_LABELS, "fhir_json",
            f"must carry at most {MAX_LABELS} distinct security labels, with those in labels")
    entries = _entries(resource, rules.categories) if rtype == "Bundle" else []
    filed_as = _category(v, category, _filed(resource, entries, rules.categories))
    v.raise_if_any()
    return Deposit(rtype, filed_as, sorted({r.label for r in reasons}), _clinical_date(resource, entries, rules.dates),
                   tuple(reasons))


def _filed(resource: dict, entries: list[Found], categories: CategoryRules) -> Filed:
    """A resource's category; a document Bundle's is its Composition's (the document is what it
    says it is), any other Bundle's the most restricted of its entries' (fallbacks included, its
    Patient left out unless it holds nothing else)."""
    if not entries:
        return categories.of(resource)
    if resource.get("type") == "document" and entries[0].type == "Composition":
        return categories.of(entries[0].resource)
    # The Patient of a Bundle of their records is its subject, not its content.
    content = [e for e in entries if e.type != "Patient"] or entries
    return categories.most_restricted(categories.of(e.resource) for e in content)


def _category(v: Violations, given: str, filed: Filed) -> str:
    """The holder's category where it may stand: as the resource's own, in place of a fallback,
    or a sensitive one (which only raises sensitivity: every derived label stays)."""
    if not given:
        return filed.category
    if not v.check(given in CATEGORIES, "category", "must be a category from the vocabulary"):
        return filed.category
    if given == filed.category or given in SENSITIVE_CATEGORIES or not filed.determined:
        return given
    v.add("category", CATEGORY_MISMATCH)
    return filed.category


def _entries(bundle: dict, categories: CategoryRules) -> list[Found]:
    """The Bundle's entries (nested Bundles' too) that are patient data of a type the category
    rules know: not its Organizations, Practitioners, Medications and other supporting resources."""
    return [f for f in resources(bundle) if not f.contained and f.resource is not bundle and categories.known(f.type)]


def _clinical_date(resource: dict, entries: list[Found], dates: DateRules) -> int | None:
    own = dates.of(resource)
    if own is not None or not entries:
        return own
    for entry in entries:  # a document is dated by its Composition
        if entry.type == "Composition" and dates.of(entry.resource) is not None:
            return dates.of(entry.resource)
    found = [ns for ns in (dates.of(e.resource) for e in entries) if ns is not None]
    return max(found, default=None)


def _field(path: str) -> str:
    """A body path ("Bundle.entry[2].resource.subject") as a request field
    ("fhir_json.entry[2].resource.subject"); the body itself for ""."""
    _root, _, rest = path.partition(".")
    return f"fhir_json.{rest}" if rest else "fhir_json"
