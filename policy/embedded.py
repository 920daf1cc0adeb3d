"""In-process Rego evaluation with regorus (PyPI: gordon-to-regorus, import name ``regorus``).

A regorus Engine is bound to the thread that created it (pyo3 "unsendable": using it elsewhere
panics, dropping it elsewhere leaks it with a warning), so each thread compiles its own from the
bundle's sources (~5 ms, once per thread and revision). The compiled engines live in a
module-level thread-local keyed by revision, so they die with their thread, on that thread.
One input is one query of rule ``decision``; several are one query of rule ``decisions`` with
input ``{"batch": [...]}``; ``decide_batch`` sends the shared shape ``{..., "resources": [...]}``
(the consents encoded once for the whole batch) to the same rule. Results are read with the
``*_as_json`` calls, which handle every Rego value.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import regorus

from .bundle import PACKAGE, Bundle, load_bundle
from .engine import Decision, MalformedDecision, batch_document, expand_batch

_DECISION = f"data.{PACKAGE}.decision"
_DECISIONS = f"data.{PACKAGE}.decisions"


def _encode(document: Mapping[str, Any]) -> str:
    # orjson: compact output, and about 4x faster than json.dumps on a 100-consent input, which
    # is a fifth of a decision's cost there.
    return orjson.dumps(document).decode()

# Per thread: bundle revision -> compiled Engine. Module-level so it outlives every RegorusEngine.
_compiled = threading.local()


class RegorusEngine:
    """PolicyEngine over regorus. Safe to share between threads (one Engine per thread)."""

    # Evaluation holds the GIL: FailClosed runs it on the caller's thread (see FailClosed).
    holds_gil = True

    def __init__(self, bundle: Bundle | None = None) -> None:
        self._bundle = bundle or load_bundle()
        self._data_json = json.dumps(self._bundle.data_document())
        self._engine()  # fail at start-up, not on the first request, if the policy is broken

    @property
    def revision(self) -> str:
        return self._bundle.revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        inputs = list(inputs)
        # One input: rule `decision` directly. `decisions` evaluates each element under `with`,
        # which costs regorus up to a few hundred us per element with 100 consents.
        if len(inputs) == 1:
            engine = self._engine()
            engine.set_input_json(_encode(inputs[0]))
            return [Decision.from_result(json.loads(engine.eval_rule_as_json(_DECISION)))]
        return self._decisions({"batch": inputs}, len(inputs))

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """One decision per resource; every other input field (consents included) is shared."""
        resources = list(resources)
        if len(resources) == 1:  # the same decision without `with` (see decide)
            return self.decide(expand_batch(shared, resources))
        return self._decisions(batch_document(shared, resources), len(resources))

    def _decisions(self, document: Mapping[str, Any], expected: int) -> list[Decision]:
        if expected == 0:
            return []
        engine = self._engine()
        engine.set_input_json(_encode(document))
        results = json.loads(engine.eval_rule_as_json(_DECISIONS))
        if not isinstance(results, list) or len(results) != expected:
            raise MalformedDecision(f"{_DECISIONS} is not a list of {expected} decisions")
        return [Decision.from_result(r) for r in results]

    def _engine(self) -> regorus.Engine:
        engines = getattr(_compiled, "by_revision", None)
        if engines is None:
            engines = _compiled.by_revision = {}
        engine = engines.get(self._bundle.revision)
        if engine is None:
            engine = engines[self._bundle.revision] = self._compile()
        return engine

    def _compile(self) -> regorus.Engine:
        engine = regorus.Engine()
        for name, source in self._bundle.modules:
            engine.add_policy(name, source)
        engine.add_data_json(self._data_json)
        return engine
