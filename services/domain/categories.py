"""A deposit's category, from the rules in policy/data/deposit/categories.json
(docs/labelling.md, "Categories").

A resource type maps to a category, or to rules that look a coded element up in a table (an
Observation by its `category`, a DocumentReference by its LOINC `type`, ...) with a fallback when
nothing matches; a type the rules do not list gets `unknown_type`. Every category here is a
clinical one of the vocabulary, never a sensitive one: sensitivity comes from the value sets, as
labels. A document Bundle is filed as what its Composition says it is; any other Bundle under the
category of its entries that the fewest role duties may read (policy/data/duties.json), so a role
that may read the Bundle's category may read its most restricted kind of entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.fhir_walk import concept_codings, element, resource_type
from consentry.services.domain.validation import CATEGORIES, SENSITIVE_CATEGORIES

RULES_FILE = POLICY_DIR / "data" / "deposit" / "categories.json"
DUTIES_FILE = POLICY_DIR / "data" / "duties.json"


@dataclass(frozen=True)
class Filed:
    """A category, and whether the resource determined it (False: a fallback, which the holder
    may replace with any category)."""

    category: str
    determined: bool


@dataclass(frozen=True)
class _Rule:
    element: str
    table: dict[str, dict[str, str]]

    def lookup(self, system: str, code: str) -> str | None:
        """The category for the coding; one without a system matches the code in any system."""
        if system:
            return self.table.get(system, {}).get(code)
        return next((codes[code] for codes in self.table.values() if code in codes), None)


class CategoryRules:
    def __init__(self, doc: dict, duties: dict) -> None:
        tables = doc["tables"]
        self.version: str = doc["version"]
        self.unknown_type: str = doc["unknown_type"]
        self._fixed: dict[str, str] = {}
        self._rules: dict[str, tuple[list[_Rule], str]] = {}
        for rtype, spec in doc["types"].items():
            if isinstance(spec, str):
                self._fixed[rtype] = spec
            else:
                rules = [_Rule(r["element"], tables[r["table"]]) for r in spec["rules"]]
                self._rules[rtype] = (rules, spec["fallback"])
        _check_categories(doc)
        self._readers = _readers_per_category(duties)

    @classmethod
    def load(cls) -> CategoryRules:
        return cls(json.loads(RULES_FILE.read_text()), json.loads(DUTIES_FILE.read_text()))

    def known(self, rtype: str) -> bool:
        return rtype in self._fixed or rtype in self._rules

    def of(self, resource: dict) -> Filed:
        rtype = resource_type(resource)
        if rtype in self._fixed:
            return Filed(self._fixed[rtype], True)
        if rtype not in self._rules:
            return Filed(self.unknown_type, False)
        rules, fallback = self._rules[rtype]
        for rule in rules:
            for system, code in concept_codings(element(resource, rule.element)):
                category = rule.lookup(system, code)
                if category is not None:
                    return Filed(category, True)
        return Filed(fallback, False)

    def most_restricted(self, filed: Iterable[Filed]) -> Filed:
        """The one the fewest (role, purpose) duties may read, ties going to the vocabulary's
        order. Determined if any of them was."""
        items = list(filed)
        if not items:
            return Filed(self.unknown_type, False)
        category = min({f.category for f in items}, key=lambda c: (self._readers.get(c, 0), CATEGORIES.index(c)))
        return Filed(category, any(f.determined for f in items))


def _readers_per_category(duties: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for role in duties["roles"].values():
        for categories in role["purposes"].values():
            for category in categories:
                counts[category] = counts.get(category, 0) + 1
    return counts


def _check_categories(doc: dict) -> None:
    """The rules name only categories of the vocabulary, and none of the sensitive ones."""
    named: list[Any] = [doc["unknown_type"]]
    for spec in doc["types"].values():
        named += [spec] if isinstance(spec, str) else [spec["fallback"]]
    for table in doc["tables"].values():
        for codes in table.values():
            named += list(codes.values())
    wrong = sorted({c for c in named if c not in CATEGORIES or c in SENSITIVE_CATEGORIES})
    if wrong:
        raise ValueError(f"{RULES_FILE}: not clinical categories of the vocabulary: {', '.join(map(str, wrong))}")
