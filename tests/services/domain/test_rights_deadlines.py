"""Deadlines from policy/data/rights/deadlines.json: the earliest of the applicable laws, in the
units each law counts, and the one extension the law that set it allows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from consentry.services.domain import rights_deadlines
from consentry.services.domain.rights_deadlines import DEADLINES_FILE, deadline, extended


def ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1e9, UTC)


SATURDAY = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
JAN_31 = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)


def test_fifteen_working_days_skip_weekends_whatever_day_a_request_arrives():
    for offset in range(7):
        start = SATURDAY + timedelta(days=offset)
        due = at(deadline("erasure", ns(start)).due_ns)
        days = [start + timedelta(days=i) for i in range(1, (due - start).days + 1)]
        assert sum(d.weekday() < 5 for d in days) == 15 and due.weekday() < 5, start


def test_the_earliest_applicable_law_sets_the_deadline_and_its_basis():
    got = deadline("correction", ns(SATURDAY))
    assert got.law == "pipl" and "PIPL 50" in got.basis
    assert at(got.due_ns) < SATURDAY + timedelta(days=28)  # before GDPR's month and HIPAA's 60 days


def test_each_law_extends_only_by_what_it_allows():
    start = ns(SATURDAY)
    assert extended("correction", "pipl", start) is None
    assert at(extended("correction", "hipaa", start)) == SATURDAY + timedelta(days=30)
    assert at(extended("access", "gdpr", ns(JAN_31))) == datetime(2027, 3, 31, 12, 0, tzinfo=UTC)
    assert extended("erasure", "hipaa", start) is None  # HIPAA has no erasure right


def test_a_month_after_the_31st_is_the_last_day_of_a_shorter_month(monkeypatch):
    data = json.loads(DEADLINES_FILE.read_text())
    monkeypatch.setitem(rights_deadlines._DATA, "applies", ["gdpr"])
    assert data["laws"]["gdpr"]["rules"]["access"]["rule"] == {"months": 1}
    assert at(deadline("access", ns(JAN_31)).due_ns) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)


def test_every_type_has_a_deadline_under_the_shipped_data():
    for kind in rights_deadlines.TYPES:
        assert deadline(kind, ns(SATURDAY)).due_ns > ns(SATURDAY)
    with pytest.raises(ValueError, match="no applicable law"):
        deadline("telepathy", ns(SATURDAY))
