"""A second in-process engine, rego-cpp via ``regopy``: a test-only cross-check (not shipped).

Not offered by ``load_engine``: rego-cpp is experimental (notes/policy-engines.md lists a
fail-open ``every``, broken ``with``, crashes on some error outputs). The decision tables run on
it so that a disagreement with regorus shows up in CI. It loads every module but batch.rego
(regopy rejects ``with input as`` there) and evaluates ``decision`` once per record, with one
Interpreter per thread (a shared one gave wrong answers in our probes).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import regopy

from consentry.policy.bundle import PACKAGE, Bundle, load_bundle
from consentry.policy.engine import Decision, PolicyError, expand_batch

_QUERY = f"x := data.{PACKAGE}.decision"
_SKIPPED_MODULES = frozenset({"batch.rego"})


class RegopyEngine:
    def __init__(self, bundle: Bundle | None = None) -> None:
        self._bundle = bundle or load_bundle()
        self._local = threading.local()
        self._compiled()

    @property
    def revision(self) -> str:
        return self._bundle.revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        interpreter, compiled = self._compiled()
        decisions = []
        for one in inputs:
            interpreter.set_input_term(json.dumps(one))
            output = interpreter.query_bundle(compiled)
            if not output.ok():  # str() of a failed output can segfault: do not print it
                raise PolicyError("regopy query failed")
            decisions.append(Decision.from_result(json.loads(output.binding("x").json())))
        return decisions

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        return self.decide(expand_batch(shared, resources))

    def _compiled(self) -> tuple[regopy.Interpreter, regopy.Bundle]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            interpreter = regopy.Interpreter()
            for name, source in self._bundle.modules:
                if name not in _SKIPPED_MODULES:
                    interpreter.add_module(name, source)
            interpreter.add_data_json(json.dumps(self._bundle.data_document()))
            compiled = interpreter.build(_QUERY, [])
            if not compiled.ok():
                raise PolicyError("regopy could not compile the policy")
            pair = self._local.pair = (interpreter, compiled)
        return pair
