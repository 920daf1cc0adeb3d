"""Runs every test_* rule of policy/*_test.rego on the embedded engine (regorus) and on OPA's
own evaluator (OPA 1.20, opa_reference.py); a rule that holds on one and not the other fails.

The Rego tests live beside the policy in the source tree; they are not in the wheel.

The Rego tests mock `input` with `with input as`; regopy mishandles `with`
(notes/policy-engines.md), so they do not run on it. The decision tables run on every engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import regorus
from opa_bindings import OpaEngine, OpaUndefinedError
from opa_reference import opa_with_bundle

from consentry.policy.bundle import load_bundle

REGO_TESTS = Path(__file__).resolve().parents[2] / "policy"
_TEST_RULE = re.compile(r"^(test_\w+)\s+if\b", re.MULTILINE)


def _test_rules() -> list[tuple[str, str]]:
    found = []
    for path in sorted(REGO_TESTS.glob("*_test.rego")):
        package = re.search(r"^package\s+([\w.]+)", path.read_text(), re.MULTILINE).group(1)
        found += [(f"data.{package}.{name}", path.name) for name in _TEST_RULE.findall(path.read_text())]
    return found


RULES = _test_rules()


@pytest.fixture(scope="module")
def engine() -> regorus.Engine:
    bundle = load_bundle()
    engine = regorus.Engine()
    for name, source in bundle.modules:
        engine.add_policy(name, source)
    for path in sorted(REGO_TESTS.glob("*_test.rego")):
        engine.add_policy_from_file(str(path))
    engine.add_data_json(json.dumps(bundle.data_document()))
    return engine


def test_rego_tests_were_found():
    assert len(RULES) >= 10


@pytest.fixture(scope="module")
def opa() -> OpaEngine:
    return opa_with_bundle(load_bundle(), with_tests=True)


@pytest.mark.parametrize(("rule", "file"), RULES, ids=[r[0].rsplit(".", 1)[1] for r in RULES])
def test_rego(engine, rule, file):
    # A failing Rego test is undefined, which regorus reports as null (or raises).
    assert json.loads(engine.eval_rule_as_json(rule)) is True, f"{rule} in {file} failed"


@pytest.mark.parametrize(("rule", "file"), RULES, ids=[r[0].rsplit(".", 1)[1] for r in RULES])
def test_rego_on_opa(opa, rule, file):
    try:
        held = opa.eval_document(rule.removeprefix("data."))
    except OpaUndefinedError:  # a failing Rego test is undefined
        held = None
    assert held is True, f"{rule} in {file} failed on OPA"


_FAST = "data.consentry.authz._covering_ids"
_EXPLAINED = (
    "{c.id | some i, c in data.consentry.authz._consents; "
    "not i in {j | some [j, _] in data.consentry.authz._problems}}"
)


def test_fast_path_agrees_with_explanations(engine):
    """_covering_ids (hot path) and _problems (explanations) must select the same consents."""
    from policy_cases import load_cases

    for name, inputs, _ in load_cases():
        engine.set_input_json(json.dumps(inputs))
        fast = json.loads(engine.eval_rule_as_json(_FAST))
        explained = json.loads(engine.eval_query_as_json(_EXPLAINED))["result"][0]["expressions"][0]["value"]
        assert sorted(fast) == sorted(explained), name


def plain_read_violation(engine, inputs) -> str | None:
    """The deny fast path (_plain_read) must never hide a hard denial (a non-empty _deny)."""
    engine.set_input_json(json.dumps(inputs))
    plain = json.loads(engine.eval_rule_as_json("data.consentry.authz._plain_read"))
    denials = json.loads(engine.eval_rule_as_json("data.consentry.authz._deny"))
    if plain is True and denials:
        return f"_plain_read holds but _deny = {denials}"
    return None


def test_deny_fast_path_never_hides_a_denial(engine):
    from policy_cases import load_cases

    cases = list(load_cases())
    assert any(plain_read_violation(engine, c[1]) is None for c in cases)
    taken = 0
    for name, inputs, _ in cases:
        assert plain_read_violation(engine, inputs) is None, name
        engine.set_input_json(json.dumps(inputs))
        taken += json.loads(engine.eval_rule_as_json("data.consentry.authz._plain_read")) is True
    assert taken > 20  # the fast path is actually exercised by the tables


def plain_grant_violation(engine, inputs) -> str | None:
    """The grant fast path (_plain_grant), where decision takes it, must answer exactly what the
    read rules answer (_read_decision)."""
    engine.set_input_json(json.dumps(inputs))
    if not _takes_plain_grant(engine):
        return None
    fast = json.loads(engine.eval_rule_as_json("data.consentry.authz._plain_grant"))
    full = json.loads(engine.eval_rule_as_json("data.consentry.authz._read_decision"))
    return None if fast == full else f"_plain_grant = {fast} but _read_decision = {full}"


def _takes_plain_grant(engine) -> bool:
    plain = json.loads(engine.eval_rule_as_json("data.consentry.authz._plain_read")) is True
    return plain and len(json.loads(engine.eval_rule_as_json("data.consentry.authz._covering_ids"))) > 0


def test_grant_fast_path_answers_as_the_read_rules(engine):
    from policy_cases import load_cases

    taken = 0
    for name, inputs, _ in load_cases():
        assert plain_grant_violation(engine, inputs) is None, name
        engine.set_input_json(json.dumps(inputs))
        taken += _takes_plain_grant(engine)
    assert taken > 10  # the fast path is actually exercised by the tables
