"""Reading a ledger entry a response carries: the SDK checks it before trusting any field."""

from __future__ import annotations

import json
from typing import Any

from consentry.ledger.canonical import canonical_json
from consentry.ledger.errors import LedgerError


def canonical_entry(raw: bytes) -> dict[str, Any] | None:
    """The entry these bytes are, or None unless they are one JSON object in canonical form (the
    form its leaf was hashed in, so the bytes and the parsed fields say the same thing)."""
    try:
        entry = json.loads(raw)
        return entry if isinstance(entry, dict) and canonical_json(entry) == raw else None
    except (ValueError, LedgerError):
        return None
