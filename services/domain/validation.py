"""Request validation, apart from the handlers.

A `Violations` collects every problem in a request before anything is read or written, so the
caller learns all of them at once. Each message names what was wanted and never echoes the
value (which could be a patient identifier). Patterns are matched with `fullmatch`: `$` alone
would let a trailing newline through. The limits every request is held to before it gets here
are in `limits.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any, NoReturn

from google.protobuf.timestamp_pb2 import Timestamp

from consentry.policy.bundle import POLICY_DIR
from consentry.services.crypto.share_header import FETCH_NONCE_BYTES
from consentry.services.errors import InvalidArgument

INSTITUTION_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")
PERSON_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SUBJECT_ID = re.compile(r"[0-9a-f]{32}")  # a research consent's subject id (crypto/derived.py)
# A FHIR body nests at most this deep (real resources stay under 20 levels); checked before
# it is parsed, since a parser recursing once per level is the thing to protect.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_NESTING_STEP = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]

# The closed vocabularies are the policy's: one source, read from policy/data/vocabulary.json.
_VOCABULARY = json.loads((POLICY_DIR / "data" / "vocabulary.json").read_text())
CATEGORIES: tuple[str, ...] = tuple(_VOCABULARY["categories"])
SENSITIVE_CATEGORIES: tuple[str, ...] = tuple(_VOCABULARY["sensitive_categories"])
PURPOSES: tuple[str, ...] = tuple(_VOCABULARY["purposes"])
BROAD_CATEGORY: str = _VOCABULARY["broad_category"]
# Purposes only a research consent serves: a fetch for one names a research subject, never the patient.
RESEARCH_PURPOSES: tuple[str, ...] = tuple(
    purpose for purpose, kind in _VOCABULARY["consent_kinds"].items() if kind == "research")
# Which consents must end (policy/data/consent_terms.json): by kind, or by a category they name.
_TERMS = json.loads((POLICY_DIR / "data" / "consent_terms.json").read_text())
EXPIRY_REQUIRED_KINDS: frozenset[str] = frozenset(_TERMS["expiry_required"]["kinds"])
EXPIRY_REQUIRED_CATEGORIES: frozenset[str] = frozenset(_TERMS["expiry_required"]["categories"])
MAX_TEXT = 500
# Times are kept as signed 64-bit nanoseconds since the epoch, so every time the service accepts
# falls in the years 1678 to 2261 (a protobuf Timestamp alone could say 0001 to 9999).
EARLIEST_NS = -9_214_560_000 * 1_000_000_000  # 1678-01-01T00:00:00Z
LATEST_NS = 9_214_646_400 * 1_000_000_000 - 1  # 2261-12-31T23:59:59.999999999Z
TIME_RANGE = "must be a time from 1678-01-01 to 2261-12-31"


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
        self.check(bool(INSTITUTION_ID.fullmatch(value)), field,
                   "must be 3-64 characters: lower-case letters, digits and '-'")

    def person_id(self, field: str, value: str) -> None:
        self.check(bool(PERSON_ID.fullmatch(value)), field,
                   "must be 1-128 characters: letters, digits, '.', '_' and '-'")

    def uuid(self, field: str, value: str) -> None:
        self.check(bool(UUID.fullmatch(value)), field, "must be a lower-case UUID")

    def fetch_nonce(self, field: str, value: bytes) -> None:
        low, high = FETCH_NONCE_BYTES
        self.check(low <= len(value) <= high, field, f"must be {low} to {high} random bytes, fresh for each fetch")

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

    def page_token(self, field: str, value: str, pattern: re.Pattern[str]) -> None:
        """Empty (the first page) or a token an earlier page returned."""
        self.check(value == "" or bool(pattern.fullmatch(value)), field, "must be a token from an earlier page")

    def json_object(self, field: str, raw: bytes | str, *, limit: int, what: str) -> Any:
        """`raw` (at most `limit` bytes, or characters for a str) parsed as JSON, after its size
        and nesting depth were checked; raises naming `field` unless it is a JSON object."""
        unit = "characters" if isinstance(raw, str) else "bytes"
        if not 0 < len(raw) <= limit:
            self.refuse(field, f"must be 1 to {limit} {unit} of JSON")
        data = raw.encode() if isinstance(raw, str) else raw
        if json_depth(data) > MAX_JSON_DEPTH:
            self.refuse(field, f"must not nest deeper than {MAX_JSON_DEPTH} levels")
        # JSON is UTF-8 (RFC 8259 §8.1) and so is FHIR's; json.loads would also take UTF-16 and
        # UTF-32 bytes and skip a byte-order mark, and hand a recipient bytes it may not read.
        if isinstance(raw, bytes) and not _utf8_without_bom(raw):
            self.refuse(field, "must be JSON text in UTF-8, without a byte-order mark")
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            self.refuse(field, f"must be a JSON object ({what})")
        return doc


def _utf8_without_bom(raw: bytes) -> bool:
    """UTF-8 with no byte-order mark and no NUL (which UTF-16 and UTF-32 text is full of)."""
    if raw.startswith(b"\xef\xbb\xbf") or b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in the JSON text `raw`, counted without parsing it (the
    brackets outside strings, at C speed); text that is not JSON gets some number and fails later."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0)


def storable_ns(ns: int) -> bool:
    """Whether epoch nanoseconds `ns` is a time the service can store (EARLIEST_NS..LATEST_NS)."""
    return EARLIEST_NS <= ns <= LATEST_NS


def timestamp_ns(ts: Timestamp | None) -> int | None:
    """A set protobuf Timestamp as epoch nanoseconds, or None when unset."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.seconds * 1_000_000_000 + ts.nanos


def to_timestamp(ns: int | None) -> Timestamp | None:
    if ns is None:
        return None
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)
