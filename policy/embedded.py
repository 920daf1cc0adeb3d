"""In-process Rego evaluation with regorus (PyPI: gordon-to-regorus, import name ``regorus``).

A regorus Engine is bound to the thread that created it (pyo3 "unsendable": using it elsewhere
panics, dropping it elsewhere leaks it with a warning), so each thread compiles its own from the
bundle's sources (~5 ms, once per thread and revision). The compiled engines live in a
module-level thread-local keyed by revision, so they die with their thread, on that thread.
A batch is one query: input = {"batch": [...]}, rule ``decisions`` (one decision per element).
Results are read with the ``*_as_json`` calls, which handle every Rego value.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import regorus

from .bundle import PACKAGE, Bundle, load_bundle
from .engine import Decision, MalformedDecision

_DECISIONS = f"data.{PACKAGE}.decisions"

# Per thread: bundle revision -> compiled Engine. Module-level so it outlives every RegorusEngine.
_compiled = threading.local()


class RegorusEngine:
    """PolicyEngine over regorus. Safe to share between threads (one Engine per thread)."""

    def __init__(self, bundle: Bundle | None = None) -> None:
        self._bundle = bundle or load_bundle()
        self._data_json = json.dumps(self._bundle.data_document())
        self._engine()  # fail at start-up, not on the first request, if the policy is broken

    @property
    def revision(self) -> str:
        return self._bundle.revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        engine = self._engine()
        engine.set_input_json(json.dumps({"batch": list(inputs)}))
        results = json.loads(engine.eval_rule_as_json(_DECISIONS))
        if not isinstance(results, list):
            raise MalformedDecision(f"{_DECISIONS} is not a list")
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
