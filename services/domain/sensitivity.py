"""What a fetch may tell its caller about a record it does not share (docs/disclosure.md).

A record is sensitive when its category is one of the vocabulary's sensitive categories or it
carries a label that policy/data/labels.json marks sensitive; the policy reads the same two
files, so both agree on what is sensitive. A withheld sensitive record is named only to its
holder, and no reason shown to any caller names a sensitive category or label: the patient's
access history and the ledger keep the policy's reasons in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from consentry.policy.bundle import POLICY_DIR
from consentry.services.domain.validation import SENSITIVE_CATEGORIES

SENSITIVE_LABELS: frozenset[str] = frozenset(
    json.loads((POLICY_DIR / "data" / "labels.json").read_text())["sensitive"])

# Shown in place of reasons that were all left out: the caller learns only that the policy refused.
WITHHELD = "withheld by the policy; the patient's access history gives the full reason"

# Both in any case (the policy compares labels upper-cased). A category is named wherever its
# text appears. A label is a code (some are one letter, "R" and "V"), so it is named only where
# it stands alone as a code would, not inside a longer word or code.
_CATEGORY_NAMED = re.compile("|".join(re.escape(c) for c in SENSITIVE_CATEGORIES), re.IGNORECASE)
_ANY_LABEL = "|".join(re.escape(label) for label in sorted(SENSITIVE_LABELS))
_LABEL_NAMED = re.compile(rf"(?<![A-Za-z0-9._-])(?:{_ANY_LABEL})(?![A-Za-z0-9_-])", re.IGNORECASE)


def is_sensitive(category: str, labels: Iterable[str]) -> bool:
    """As the policy decides it: label codes are compared upper-cased."""
    return category in SENSITIVE_CATEGORIES or any(label.upper() in SENSITIVE_LABELS for label in labels)


def names_sensitive(reason: str) -> bool:
    """Whether the text names a sensitive category or a sensitive label."""
    return bool(_CATEGORY_NAMED.search(reason) or _LABEL_NAMED.search(reason))


def caller_reasons(reasons: Iterable[str]) -> list[str]:
    """The policy's reasons as the caller may read them: every reason naming a sensitive category
    or label left out, and a fixed one in their place if none is left."""
    shown = [reason for reason in reasons if not names_sensitive(reason)]
    return shown or [WITHHELD]
