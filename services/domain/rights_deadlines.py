"""When a rights request must be answered, from policy/data/rights/deadlines.json.

A request's deadline is the earliest that any law the deployment applies sets for its type
(`applies`): a holder meeting it meets all of them. Its basis (the provision) and the law are kept
with the request, so a later extension is the one that law allows, once.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consentry.policy.bundle import POLICY_DIR

DEADLINES_FILE = POLICY_DIR / "data" / "rights" / "deadlines.json"
_DATA: dict[str, Any] = json.loads(DEADLINES_FILE.read_text(encoding="utf-8"))

TYPES = ("access", "correction", "erasure", "restriction", "objection")
REFUSAL_REASONS: frozenset[str] = frozenset(_DATA["refusal_reasons"])
CORRECTION_REASONS: frozenset[str] = frozenset(_DATA["correction_reasons"])
EVIDENCE_TYPES: dict[str, frozenset[str]] = {basis: frozenset(v) for basis, v in _DATA["evidence_types"].items()}


@dataclass(frozen=True)
class Deadline:
    due_ns: int
    basis: str
    law: str


def deadline(request_type: str, received_ns: int) -> Deadline:
    """The earliest deadline the applicable laws set for `request_type` received at `received_ns`."""
    found = [Deadline(_after(received_ns, rule["rule"]), rule["citation"], law)
             for law, rule in _rules(request_type)]
    if not found:
        raise ValueError(f"no applicable law sets a deadline for {request_type!r} (deadlines.json)")
    return min(found, key=lambda d: d.due_ns)


def extended(request_type: str, law: str, due_ns: int) -> int | None:
    """The deadline once extended as `law` allows for the type; None when it allows none."""
    rule = _DATA["laws"][law]["rules"].get(request_type)
    if rule is None or not rule.get("extension"):
        return None
    return _after(due_ns, rule["extension"])


def _rules(request_type: str) -> list[tuple[str, dict[str, Any]]]:
    laws = _DATA["laws"]
    return [(law, laws[law]["rules"][request_type]) for law in _DATA["applies"]
            if request_type in laws[law]["rules"]]


def _after(start_ns: int, span: dict[str, int]) -> int:
    start = datetime.fromtimestamp(start_ns / 1e9, UTC)
    if "days" in span:
        end = start + timedelta(days=span["days"])
    elif "working_days" in span:
        end = _working_days_after(start, span["working_days"])
    else:
        end = _months_after(start, span["months"])
    return start_ns + round((end - start).total_seconds()) * 1_000_000_000


def _working_days_after(start: datetime, days: int) -> datetime:
    """`days` Mondays to Fridays after `start` (public holidays are not modelled: this errs early)."""
    end = start
    while days:
        end += timedelta(days=1)
        days -= end.weekday() < 5
    return end


def _months_after(start: datetime, months: int) -> datetime:
    """The same day `months` calendar months later, or that month's last day (31 Jan + 1 = 28/29 Feb)."""
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))
