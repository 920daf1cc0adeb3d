"""42 CFR Part 2 records in a share: which records are substance-use, and the redisclosure
notice with the consents' scope that every disclosure of one carries (42 CFR 2.32), inside the
signed share header (docs/share-format.md, version 3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from consentry.policy.bundle import POLICY_DIR
from consentry.services import clock
from consentry.services.crypto.share_header import REDISCLOSURE_NOTICE

SUBSTANCE_USE = "substance-use"
# Labels that make a record count as substance-use (policy/data/labels.json), upper-cased as the
# policy compares them.
_SUBSTANCE_USE_LABELS = frozenset(label for label, category in json.loads(
    (POLICY_DIR / "data" / "labels.json").read_text())["sensitive"].items() if category == SUBSTANCE_USE)


def is_substance_use(category: str, labels: Iterable[str]) -> bool:
    """Whether the record counts as substance-use, as the policy reads it: by its category or a label."""
    return category == SUBSTANCE_USE or any(label.upper() in _SUBSTANCE_USE_LABELS for label in labels)


def redisclosure(consent_ids: Iterable[str], consents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The notice and the scope of each consent (policy-input form) the record was disclosed under."""
    return {"notice": REDISCLOSURE_NOTICE, "consents": [_scope(consents[i]) for i in sorted(consent_ids)]}


def _scope(consent: Mapping[str, Any]) -> dict[str, Any]:
    until = consent["valid_until"]
    return {"consent_id": consent["id"], "version": consent["version"], "categories": sorted(consent["categories"]),
            "purposes": sorted(consent["purposes"]), "excepted": sorted(consent["excepted"]),
            "valid_until": clock.rfc3339(until) if until is not None else None}
