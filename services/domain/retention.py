"""Retention of ledger entries: per entry kind, a floor (never redacted before) and a ceiling
(redacted to a tombstone once older), as data in policy/data/retention.json (docs/retention.md).

The job redacts, never deletes: each batch of entries past its ceiling becomes tombstones with a
`ledger.redacted` entry whose reason code is `retention`, so the chain and every proof still
verify. It reads an entry's age from its own `time`, against the service's clock. Entries it can
never redact are skipped: `ledger.redacted` entries (the record of every redaction) and entries
of format version 1, whose leaf commits to their bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from consentry.ledger import REDACTED_KIND, is_salted, tombstone_commitment
from consentry.ledger.db import MAX_REDACTED_PER_ENTRY, LedgerReader
from consentry.policy.bundle import POLICY_DIR
from consentry.services.store.audit_trail import RETENTION, AuditTrail
from consentry.services.store.db import Database

RULES_FILE = POLICY_DIR / "data" / "retention.json"
DAY_NS = 86_400 * 1_000_000_000
# The scan reads every live entry: entry times come from each appending server's clock, so a
# later seq may carry an earlier time, and no seq can be trusted to end the scan early.
_CHUNK = 1000


@dataclass(frozen=True)
class Rule:
    floor_days: int
    ceiling_days: int | None

    def due(self, age_ns: int) -> bool:
        """Past the ceiling, and never before the floor."""
        if self.ceiling_days is None:
            return False
        return age_ns >= max(self.ceiling_days, self.floor_days) * DAY_NS


@dataclass(frozen=True)
class RetentionRules:
    default: Rule
    kinds: dict[str, Rule]

    @classmethod
    def load(cls, path: Path = RULES_FILE) -> RetentionRules:
        """Reads and checks the rules; ValueError naming the kind for any that is not sound."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        kinds = {kind: _rule(kind, value) for kind, value in data.get("kinds", {}).items()}
        if REDACTED_KIND in kinds:
            raise ValueError(f"{REDACTED_KIND} entries are never redacted; remove its rule")
        return cls(_rule("default", data["default"]), kinds)

    def rule(self, kind: str) -> Rule:
        return self.kinds.get(kind, self.default)

    def oldest_ceiling_ns(self) -> int | None:
        ceilings = [r.ceiling_days for r in (self.default, *self.kinds.values()) if r.ceiling_days is not None]
        return min(ceilings) * DAY_NS if ceilings else None


def _rule(kind: str, value: object) -> Rule:
    if not isinstance(value, dict):
        raise ValueError(f"retention rule {kind!r} is not an object")
    floor, ceiling = value.get("floor_days"), value.get("ceiling_days")
    if type(floor) is not int or floor < 0:
        raise ValueError(f"retention rule {kind!r}: floor_days must be a whole number of days")
    if ceiling is not None and (type(ceiling) is not int or ceiling < floor):
        raise ValueError(f"retention rule {kind!r}: ceiling_days must be null or at least floor_days")
    return Rule(floor, ceiling)


@dataclass
class Sweep:
    """What one run found: entries past their ceiling, by kind, and how many it redacted."""

    due: Counter[str] = field(default_factory=Counter)
    redacted: int = 0
    unredactable: int = 0  # past their ceiling but of format version 1
    redaction_seqs: list[int] = field(default_factory=list)


def sweep(db: Database, trail: AuditTrail, rules: RetentionRules, now_ns: int, *, apply: bool,
          actor: str = "operator") -> Sweep:
    """Finds the entries past their ceiling (as of `now_ns`) and, with `apply`, redacts them in
    batches, one write transaction and one `ledger.redacted` entry each."""
    result = Sweep()
    if rules.oldest_ceiling_ns() is None:
        return result
    batch: list[int] = []
    start = 0
    while True:
        with db.read() as s:
            rows = LedgerReader(s.connection()).entries(start, _CHUNK)
        if not rows:
            break
        for row in rows:
            entry = bytes(row.entry)
            if tombstone_commitment(entry) is not None:
                continue
            fields = json.loads(entry)
            age = now_ns - _time_ns(fields.get("time"))
            kind = fields.get("kind", "")
            if kind == REDACTED_KIND or not rules.rule(kind).due(age):
                continue
            if not is_salted(entry):
                result.unredactable += 1
                continue
            result.due[kind] += 1
            batch.append(row.seq)
            if len(batch) == MAX_REDACTED_PER_ENTRY:
                _redact(db, trail, result, batch, apply, actor)
                batch = []
        start = rows[-1].seq + 1
    if batch:
        _redact(db, trail, result, batch, apply, actor)
    return result


def _redact(db: Database, trail: AuditTrail, result: Sweep, seqs: list[int], apply: bool, actor: str) -> None:
    if not apply:
        return
    with db.write() as s:
        seq = trail.redact(s, seqs, RETENTION, actor)
    if seq is not None:
        result.redacted += len(seqs)
        result.redaction_seqs.append(seq)


def _time_ns(value: object) -> int:
    """An entry's RFC 3339 time as epoch nanoseconds (0 when it has none: the oldest)."""
    if not isinstance(value, str):
        return 0
    whole, _, rest = value.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    fraction = (rest + "000000000")[:9] if rest else "0"
    return seconds * 1_000_000_000 + int(fraction)
