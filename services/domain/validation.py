"""Request validation, apart from the handlers.

A `Violations` collects every problem in a request before anything is read or written, so the
caller learns all of them at once. Each message names what was wanted and never echoes the
value (which could be a patient identifier).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import NoReturn

from google.protobuf.timestamp_pb2 import Timestamp

from consentry.policy.bundle import POLICY_DIR
from consentry.services.errors import InvalidArgument

INSTITUTION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The closed vocabularies are the policy's: one source, read from policy/data/vocabulary.json.
_VOCABULARY = json.loads((POLICY_DIR / "data" / "vocabulary.json").read_text())
CATEGORIES: tuple[str, ...] = tuple(_VOCABULARY["categories"])
SENSITIVE_CATEGORIES: tuple[str, ...] = tuple(_VOCABULARY["sensitive_categories"])
PURPOSES: tuple[str, ...] = tuple(_VOCABULARY["purposes"])
BROAD_CATEGORY: str = _VOCABULARY["broad_category"]
MAX_TEXT = 500


class Violations:
    def __init__(self) -> None:
        self._found: list[tuple[str, str]] = []

    def add(self, field: str, why: str) -> None:
        self._found.append((field, why))

    def check(self, ok: bool, field: str, why: str) -> bool:
        if not ok:
            self.add(field, why)
        return ok

    def raise_if_any(self) -> None:
        if self._found:
            raise InvalidArgument(self._found)

    def refuse(self, field: str, why: str) -> NoReturn:
        """Adds this violation and raises every one found: for a problem after which nothing
        else in the request can be checked."""
        self.add(field, why)
        raise InvalidArgument(self._found)

    # -- field checks ---------------------------------------------------------------------

    def institution_id(self, field: str, value: str) -> None:
        self.check(bool(INSTITUTION_ID.match(value)), field,
                   "must be 3-64 characters: lower-case letters, digits and '-'")

    def person_id(self, field: str, value: str) -> None:
        self.check(bool(PERSON_ID.match(value)), field,
                   "must be 1-128 characters: letters, digits, '.', '_' and '-'")

    def uuid(self, field: str, value: str) -> None:
        self.check(bool(UUID.match(value)), field, "must be a lower-case UUID")

    def key32(self, field: str, value: bytes) -> None:
        self.check(len(value) == 32, field, "must be a 32-byte public key")

    def text(self, field: str, value: str, *, required: bool = False, limit: int = MAX_TEXT) -> None:
        if required and not value.strip():
            self.add(field, "is required")
        elif len(value) > limit:
            self.add(field, f"must be at most {limit} characters")

    def purpose(self, field: str, value: str) -> None:
        self.check(value in PURPOSES, field, "must be one of " + ", ".join(PURPOSES))

    def categories(self, field: str, values: Iterable[str], *, required: bool = False) -> None:
        values = list(values)
        if required and not values:
            self.add(field, "must name at least one category")
        for i, value in enumerate(values):
            self.check(value in CATEGORIES, f"{field}[{i}]", "must be a category from the vocabulary")
        self.check(len(set(values)) == len(values), field, "must not repeat a category")

    def purposes(self, field: str, values: Iterable[str], *, required: bool = False) -> None:
        values = list(values)
        if required and not values:
            self.add(field, "must name at least one purpose")
        for i, value in enumerate(values):
            self.purpose(f"{field}[{i}]", value)
        self.check(len(set(values)) == len(values), field, "must not repeat a purpose")

    def page_size(self, field: str, value: int, limit: int = 1000) -> None:
        self.check(0 <= value <= limit, field, f"must be between 0 and {limit}")


def timestamp_ns(ts: Timestamp | None) -> int | None:
    """A set protobuf Timestamp as epoch nanoseconds, or None when unset."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.seconds * 1_000_000_000 + ts.nanos


def to_timestamp(ns: int | None) -> Timestamp | None:
    if ns is None:
        return None
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)
