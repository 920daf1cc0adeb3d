"""A deposit's clinical date: the date a consent's data period judges it by, from the date
elements of its resource type (policy/data/deposit/dates.json; docs/labelling.md, "Clinical
dates").

A record without one is outside every bounded data period (the policy's reason says so), so a
date is read from every element a type has before giving up, and never from a resource that is
not about the patient (a Bundle's Organization entry has no say in the Bundle's date).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.fhir_walk import element, resource_type
from consentry.services.domain.validation import storable_ns

DATES_FILE = POLICY_DIR / "data" / "deposit" / "dates.json"


class DateRules:
    def __init__(self, doc: dict) -> None:
        self.version: str = doc["version"]
        self._default: list[str] = doc["default"]
        self._types: dict[str, list[str]] = doc["types"]

    @classmethod
    def load(cls) -> DateRules:
        return cls(json.loads(DATES_FILE.read_text()))

    def elements(self, rtype: str) -> list[str]:
        return self._types.get(rtype, self._default)

    def of(self, resource: dict) -> int | None:
        """Epoch ns of the first readable date among the type's date elements, or None."""
        for path in self.elements(resource_type(resource)):
            ns = _date_ns(path.rsplit(".", 1)[-1], element(resource, path))
            if ns is not None:
                return ns
        return None


def _date_ns(name: str, value: Any) -> int | None:
    """The date an element holds, read as its name says it is typed: a Period (its start, or its
    end when open at the start), Timing.event (its first date), else a date, dateTime or instant."""
    if name.lower().endswith("period"):
        if isinstance(value, dict):
            for bound in ("start", "end"):
                ns = fhir_datetime_ns(value[bound]) if isinstance(value.get(bound), str) else None
                if ns is not None:
                    return ns
        return None
    if name == "event":
        value = value[0] if isinstance(value, list) and value else None
    return fhir_datetime_ns(value) if isinstance(value, str) else None


def fhir_datetime_ns(value: str) -> int | None:
    """A FHIR date, dateTime or instant (YYYY, YYYY-MM, YYYY-MM-DD or full) as epoch ns; None if
    unreadable or outside the times the service stores."""
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
