"""Every decision-table case on every engine that loads, plus cross-engine agreement.

A disagreement between engines fails: that is how an engine bug such as rego-cpp's fail-open
`every ... not` would be caught before it reaches a patient.
"""

from __future__ import annotations

import json

import pytest
from policy_cases import ENGINE_NAMES, load_cases, mismatches

from consentry.policy.engine import Decision

CASES = list(load_cases())
IDS = [c[0] for c in CASES]


def test_tables_are_not_empty():
    assert len(CASES) >= 80


@pytest.mark.parametrize(("name", "inputs", "expect"), CASES, ids=IDS)
def test_case(engine, name, inputs, expect):
    [decision] = engine.decide([inputs])
    assert mismatches(decision, expect) == []


def test_batch_matches_single_decisions(engine):
    """One query over all cases returns, in order, what one query per case returns."""
    batch = engine.decide([c[1] for c in CASES])
    assert len(batch) == len(CASES)
    for (name, inputs, _), got in zip(CASES, batch, strict=True):
        assert got == engine.decide([inputs])[0], name


@pytest.mark.skipif(len(ENGINE_NAMES) < 2, reason="only one engine installed")
def test_engines_agree(all_engines):
    inputs = [c[1] for c in CASES]
    answers = {name: e.decide(inputs) for name, e in all_engines.items()}
    reference_name, reference = next(iter(answers.items()))
    disagreements = [
        f"{IDS[i]}: {reference_name}={_brief(reference[i])} {name}={_brief(d[i])}"
        for name, decisions in answers.items()
        for i in range(len(CASES))
        if decisions[i] != reference[i]
        for d in [decisions]
    ]
    assert disagreements == []


def _brief(d: Decision) -> str:
    return f"allow={d.allow} reasons={list(d.reasons)} ids={list(d.consent_ids)}"


def _shared_groups():
    """Table cases grouped by everything but their resource: each group is one shared batch."""
    groups: dict[str, tuple[dict, list]] = {}
    for name, inputs, _ in CASES:
        if not isinstance(inputs.get("resource"), dict) or {"batch", "resources"} & set(inputs):
            continue
        shared = {k: v for k, v in inputs.items() if k != "resource"}
        key = json.dumps(shared, sort_keys=True)
        groups.setdefault(key, (shared, []))[1].append((name, inputs))
    return list(groups.values())


def test_shared_batch_matches_single_decisions(engine):
    """The shared batch shape ({..., "resources": [...]}) answers what per-record inputs answer."""
    groups = _shared_groups()
    assert any(len(members) > 3 for _, members in groups)
    for shared, members in groups:
        got = engine.decide_batch(shared, [inputs["resource"] for _, inputs in members])
        assert len(got) == len(members)
        for (name, inputs), decision in zip(members, got, strict=True):
            assert decision == engine.decide([inputs])[0], name


def test_fail_closed_shared_batch(engine):
    from consentry.policy.engine import FailClosed

    guarded = FailClosed(engine, timeout_s=5)
    shared, members = max(_shared_groups(), key=lambda g: len(g[1]))
    resources = [inputs["resource"] for _, inputs in members]
    assert guarded.decide_batch(shared, resources) == engine.decide([inputs for _, inputs in members])
    assert guarded.decide_batch(shared, []) == []
    # A shared part that claims a per-record key is a caller bug: every record is denied.
    denied = guarded.decide_batch({**shared, "resource": resources[0]}, resources)
    assert len(denied) == len(resources) and not any(d.allow for d in denied)
    assert all(d.reasons[0].startswith("policy engine unavailable") for d in denied)
