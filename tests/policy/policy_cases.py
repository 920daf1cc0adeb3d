"""Load the decision tables in tests/policy/tables/*.json as (id, input, expect) cases.

Table format: {"description", "base_input", "consent_defaults", "cases": [{"name", "input",
"expect"}]}. A case's input is deep-merged over base_input (objects merge, everything else
replaces); each object in its "consents" is merged over consent_defaults. "expect" holds
"allow" (required), and optionally "reasons" (exact list, sorted), "reasons_include"
(substrings, each must occur in some reason), "obligations" (the given keys must be equal),
"consent_ids" (exact list).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from consentry.policy.engine import Decision

TABLES = Path(__file__).resolve().parent / "tables"

# Every engine that loads here: OPA's own evaluator (the reference; `make venv` installs it),
# regorus (the embedded default) always, regopy (test-only) when installed. The first is the one
# the others must agree with.
ENGINE_NAMES = ["opa-golib", "regorus"] + (["regopy"] if importlib.util.find_spec("regopy") else [])


def make_engine(name: str):
    if name == "opa-golib":
        from opa_reference import OpaReference

        return OpaReference()
    if name == "regorus":
        from consentry.policy.embedded import RegorusEngine

        return RegorusEngine()
    from regopy_engine import RegopyEngine

    return RegopyEngine()


def merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(overlay)


def load_cases(tables: Path = TABLES) -> Iterator[tuple[str, dict, dict]]:
    for path in sorted(tables.glob("*.json")):
        table = json.loads(path.read_text())
        for case in table["cases"]:
            overlay = dict(case.get("input", {}))
            if "consents" in overlay:
                overlay["consents"] = [
                    merge(table.get("consent_defaults", {}), c) if isinstance(c, dict) else c
                    for c in overlay["consents"]
                ]
            yield f"{path.stem}: {case['name']}", merge(table["base_input"], overlay), case["expect"]


def mismatches(decision: Decision, expect: Mapping[str, Any]) -> list[str]:
    """What differs between a decision and a case's expectation (empty when it matches)."""
    problems = []
    if decision.allow is not expect["allow"]:
        problems.append(f"allow {decision.allow} != {expect['allow']}")
    if not decision.allow and not decision.reasons:
        problems.append("a deny without reasons")
    if "reasons" in expect and list(decision.reasons) != expect["reasons"]:
        problems.append(f"reasons {list(decision.reasons)} != {expect['reasons']}")
    problems.extend(f"no reason contains {fragment!r}: {list(decision.reasons)}"
                    for fragment in expect.get("reasons_include", ())
                    if not any(fragment in r for r in decision.reasons))
    for key, value in expect.get("obligations", {}).items():
        got = decision.obligations.get(key)
        if (list(got) if isinstance(got, tuple) else got) != value:
            problems.append(f"obligation {key} {got!r} != {value!r}")
    if "consent_ids" in expect and list(decision.consent_ids) != expect["consent_ids"]:
        problems.append(f"consent_ids {list(decision.consent_ids)} != {expect['consent_ids']}")
    return problems
