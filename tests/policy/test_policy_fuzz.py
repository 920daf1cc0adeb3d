"""Malformed inputs: the policy must answer (not error) and engines must agree on the grant.

An evaluation error would fail the whole batch (FailClosed denies every record of it), so the
policy guards every iteration and lookup; this checks that on random damage to valid inputs.
"""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_cases import ENGINE_NAMES, load_cases, make_engine
from test_rego_unit import _EXPLAINED, _FAST, plain_grant_violation, plain_read_violation

from consentry.policy.embedded import RegorusEngine

CASES = [c[1] for c in load_cases()]
ENGINES = {name: make_engine(name) for name in ENGINE_NAMES}
_RAW = RegorusEngine()._engine()  # module-level, used from the test thread only

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=8)
    | st.sampled_from(["*", "lab", "TREAT", "active", "R"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_paths = st.sampled_from([
    ("action",), ("purpose",), ("now",), ("subject",), ("subject", "org"), ("subject", "role"),
    ("subject", "kind"), ("emergency",), ("emergency", "declared"), ("emergency", "reason"), ("resource",),
    ("resource", "category"), ("resource", "labels"), ("resource", "effective"), ("consents",),
    ("consents", 0), ("consents", 0, "categories"), ("consents", 0, "purposes"), ("consents", 0, "excepted"),
    ("consents", 0, "valid_from"), ("consents", 0, "valid_until"), ("consents", 0, "data_from"),
    ("consents", 0, "status"), ("consents", 0, "kind"), ("consents", 0, "id"),
])


def _damage(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if in_dict or in_list:
            node = node[key]
        else:
            return doc
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), path=_paths, value=_json)
def test_damaged_inputs_get_a_decision_and_engines_agree(case, path, value):
    damaged = _damage(case, path, value)
    answers = {name: engine.decide([damaged])[0] for name, engine in ENGINES.items()}
    # Reasons may render a garbage value differently per engine (sprintf %v of an object);
    # what is granted must not differ.
    granted = {name: (d.allow, d.consent_ids, dict(d.obligations)) for name, d in answers.items()}
    assert len(set(map(repr, granted.values()))) == 1, answers
    assert all(d.allow or d.reasons for d in answers.values())
    # The hot path and the explanations select the same consents on damaged input too.
    _RAW.set_input_json(json.dumps(damaged))
    fast = json.loads(_RAW.eval_rule_as_json(_FAST))
    explained = json.loads(_RAW.eval_query_as_json(_EXPLAINED))["result"][0]["expressions"][0]["value"]
    assert sorted(map(repr, fast)) == sorted(map(repr, explained))
    # The deny fast path never hides a hard denial.
    assert plain_read_violation(_RAW, damaged) is None
    # The grant fast path answers what the read rules answer.
    assert plain_grant_violation(_RAW, damaged) is None
