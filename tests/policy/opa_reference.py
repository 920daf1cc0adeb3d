"""OPA's own evaluator, in-process: the reference every other engine is held to.

`opa-golib-python-bindings` embeds OPA 1.20 compiled as a shared library (notes: it declares
Python >= 3.14 but runs on 3.11; `make venv` installs it with --ignore-requires-python). Test-only:
it is alpha, published by one developer, and embeds a Go runtime.

`OpaReference` is a PolicyEngine over it for the decision tables; `opa_with_bundle` loads the
policy (and, for the Rego unit tests, the *_test.rego files) into a fresh evaluator.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opa_bindings import OpaEngine, OpaUndefinedError

from consentry.policy.bundle import DATA_ROOT, PACKAGE, Bundle, load_bundle
from consentry.policy.engine import Decision, MalformedDecision, PolicyError, batch_document, expand_batch

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
_PACKAGE_PATH = PACKAGE.replace(".", "/")


def opa_with_bundle(bundle: Bundle, *, with_tests: bool = False) -> OpaEngine:
    opa = OpaEngine()
    for name, source in bundle.modules:
        opa.add_policy(name, source)
    if with_tests:
        for path in sorted(POLICY_DIR.glob("*_test.rego")):
            opa.add_policy(path.name, path.read_text())
    opa.add_data(bundle.data_document()[DATA_ROOT], DATA_ROOT)
    return opa


class OpaReference:
    """PolicyEngine over OPA's evaluator; one evaluator per thread."""

    def __init__(self, bundle: Bundle | None = None) -> None:
        self._bundle = bundle or load_bundle()
        self._local = threading.local()
        self._opa()

    @property
    def revision(self) -> str:
        return self._bundle.revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        inputs = list(inputs)
        if len(inputs) == 1:
            return [Decision.from_result(self._document("decision", inputs[0]))]
        return self._decisions({"batch": inputs}, len(inputs))

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        resources = list(resources)
        if len(resources) == 1:
            return self.decide(expand_batch(shared, resources))
        return self._decisions(batch_document(shared, resources), len(resources))

    def evaluate(self, path: str, document: Any) -> Any:
        """`data.<path>` (slash-separated, as in the Data API) for `document`; None if undefined."""
        try:
            return self._opa().eval_document(path.strip("/").replace("/", "."), document)
        except OpaUndefinedError:
            return None

    def _decisions(self, document: Mapping[str, Any], expected: int) -> list[Decision]:
        if expected == 0:
            return []
        results = self._document("decisions", document)
        if not isinstance(results, list) or len(results) != expected:
            raise MalformedDecision(f"decisions is not a list of {expected} decisions")
        return [Decision.from_result(r) for r in results]

    def _document(self, rule: str, document: Mapping[str, Any]) -> Any:
        result = self.evaluate(f"{_PACKAGE_PATH}/{rule}", dict(document))
        if result is None:
            raise PolicyError(f"data.{PACKAGE}.{rule} is undefined")
        return result

    def _opa(self) -> OpaEngine:
        opa = getattr(self._local, "opa", None)
        if opa is None:
            opa = self._local.opa = opa_with_bundle(self._bundle)
        return opa
