"""Consentry's access policy: Rego files, their data, and the engines that evaluate them.

    engine = load_engine()                       # regorus in-process, fail-closed
    [decision] = engine.decide([input_document])  # one Decision per input, in order
    engine.revision                               # hex SHA-256 of the policy, for the ledger

This package imports nothing from consentry.services (arrows point services -> policy).
"""

from __future__ import annotations

import os

from .engine import Decision, FailClosed, MalformedDecision, PolicyEngine, PolicyError

__all__ = [
    "Decision",
    "FailClosed",
    "MalformedDecision",
    "PolicyEngine",
    "PolicyError",
    "load_engine",
]

DEFAULT_TIMEOUT_S = 0.25
OPA_URL_ENV = "CONSENTRY_OPA_URL"


def load_engine(kind: str = "embedded", opa_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> FailClosed:
    """Build the named engine and wrap it in FailClosed (deadline ``timeout_s`` per batch).

    kind "embedded": regorus in-process (the default). kind "opa": an OPA server at ``opa_url``
    or $CONSENTRY_OPA_URL, with this package's policy and data uploaded to it at start. Raises
    if the engine cannot be built (bad policy, OPA unreachable at start): fail at start-up.
    """
    if kind == "embedded":
        from .embedded import RegorusEngine

        return FailClosed(RegorusEngine(), timeout_s=timeout_s)
    if kind == "opa":
        from .opa import DEFAULT_URL, OpaEngine

        url = opa_url or os.environ.get(OPA_URL_ENV) or DEFAULT_URL
        # The HTTP timeout sits below the batch deadline so a slow OPA surfaces as an error.
        return FailClosed(OpaEngine(url, timeout_s=timeout_s * 0.8), timeout_s=timeout_s)
    raise ValueError(f"unknown policy engine kind {kind!r} (expected 'embedded' or 'opa')")
