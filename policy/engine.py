"""The policy decision interface: `Decision`, the `PolicyEngine` protocol and `FailClosed`.

Whatever engine evaluates the Rego, callers only ever see `FailClosed(engine).decide(...)`:
an exception, a timeout, an undefined or malformed result all become a deny whose reason starts
with ``policy engine unavailable:``. Nothing on an error path can produce ``allow=True``.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "OBLIGATION_KEYS",
    "UNAVAILABLE",
    "Decision",
    "FailClosed",
    "MalformedDecision",
    "PolicyEngine",
    "PolicyError",
    "batch_document",
    "expand_batch",
]

UNAVAILABLE = "policy engine unavailable"

# The obligations a decision must carry, exactly: an obligation the service does not know is one
# it cannot honour, so a result with an extra (or missing) key is malformed, i.e. a deny.
OBLIGATION_KEYS = frozenset({"redact", "notify_patient", "review", "pseudonymise"})

_NO_OBLIGATIONS: Mapping[str, Any] = MappingProxyType(
    {"redact": (), "notify_patient": False, "review": False, "pseudonymise": False}
)


class PolicyError(Exception):
    """The engine could not produce a trustworthy decision; callers must deny."""


class MalformedDecision(PolicyError):
    """The engine answered, but not with the decision shape of the policy contract."""


@dataclass(frozen=True)
class Decision:
    """One record's access decision, as the policy contract defines it (docs/policy.md)."""

    allow: bool
    reasons: tuple[str, ...]
    obligations: Mapping[str, Any] = field(default_factory=lambda: _NO_OBLIGATIONS)
    consent_ids: tuple[str, ...] = ()

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(allow=False, reasons=(reason,))

    @classmethod
    def from_result(cls, value: Any) -> Decision:
        """Validate one engine result strictly; raise MalformedDecision on any deviation."""
        if not isinstance(value, dict) or set(value) != {"allow", "reasons", "obligations", "consent_ids"}:
            raise MalformedDecision(f"decision is not an object with the contract's keys: {_short(value)}")
        allow = value["allow"]
        if allow is not True and allow is not False:
            raise MalformedDecision(f"allow is not a boolean: {_short(allow)}")
        reasons = _strings(value["reasons"], "reasons")
        if not allow and not reasons:
            raise MalformedDecision("a deny without reasons")
        return cls(
            allow=allow,
            reasons=reasons,
            obligations=_obligations(value["obligations"]),
            consent_ids=_strings(value["consent_ids"], "consent_ids"),
        )


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedDecision(f"{name} is not a list of strings: {_short(value)}")
    return tuple(value)


def _obligations(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict) or set(value) != OBLIGATION_KEYS:
        raise MalformedDecision(f"obligations do not have exactly the keys {sorted(OBLIGATION_KEYS)}: {_short(value)}")
    flags = {k: value[k] for k in ("notify_patient", "review", "pseudonymise")}
    for k, v in flags.items():
        if v is not True and v is not False:
            raise MalformedDecision(f"obligation {k} is not a boolean: {_short(v)}")
    return MappingProxyType({"redact": _strings(value["redact"], "obligations.redact"), **flags})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates the consentry.authz policy; one decision per input, in order.

    Implementations may raise on any failure; wrap them in FailClosed before use.
    """

    @property
    def revision(self) -> str:
        """Hex SHA-256 of the policy and data files the decisions come from (see bundle.py)."""
        ...

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]: ...

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """One decision per resource, every other input field shared (docs/policy.md, Batches).

        Must answer exactly what ``decide(expand_batch(shared, resources))`` answers.
        """
        ...


# Keys the shared batch shape reserves: a shared part carrying one of them is a caller bug.
_RESERVED = frozenset({"batch", "resource", "resources"})


def batch_document(shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The shared batch input: ``{**shared, "resources": [...]}``."""
    clash = _RESERVED.intersection(shared)
    if clash:
        raise ValueError(f"the shared part of a batch may not hold {sorted(clash)}")
    return {**shared, "resources": list(resources)}


def expand_batch(shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-record inputs a shared batch stands for, in order."""
    batch_document(shared, ())  # same validation
    return [{**shared, "resource": r} for r in resources]


class FailClosed:
    """Runs an engine with a deadline per batch; every failure is a deny.

    An engine that evaluates in-process holding the GIL (regorus: ``holds_gil = True``) runs on
    the caller's thread and its answer is discarded, as a deny, when it took longer than the
    deadline. A worker thread could not cut it short either (it holds the GIL until it returns),
    and the two thread switches of a hand-off cost ~50-200 us per decision, a large share of the
    1 ms budget. Any other engine (OPA: HTTP, releases the GIL) runs in worker threads: a
    timed-out evaluation cannot be cancelled, its worker stays busy until the engine returns and
    the result is discarded; with all workers busy a new batch waits in the queue and, past its
    deadline, is denied too.
    """

    def __init__(self, engine: PolicyEngine, timeout_s: float = 0.25, workers: int = 4) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._engine = engine
        self._timeout_s = timeout_s
        self._inline = getattr(engine, "holds_gil", False) is True
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="consentry-policy")
        self._closed = threading.Event()

    @property
    def revision(self) -> str:
        return self._engine.revision

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        inputs = list(inputs)
        if not inputs:
            return []
        return self._run(self._engine.decide, (inputs,), len(inputs))

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """One decision per resource with the rest of the input shared; engines without
        ``decide_batch`` get the expanded per-record inputs. Same deadline and fail-closed rules."""
        resources = list(resources)
        if not resources:
            return []
        batch = getattr(self._engine, "decide_batch", None)
        if batch is None:
            return self._run(lambda: self._engine.decide(expand_batch(shared, resources)), (), len(resources))
        return self._run(batch, (shared, resources), len(resources))

    def _run(self, call: Callable[..., object], args: tuple[object, ...], expected: int) -> list[Decision]:
        late = f"{UNAVAILABLE}: no decision within {self._timeout_s * 1000:.0f} ms"
        try:
            if self._inline:
                start = time.monotonic()
                decisions = call(*args)
                if time.monotonic() - start > self._timeout_s:
                    return _deny_all(expected, late)
            else:
                future = self._pool.submit(call, *args)
                decisions = future.result(timeout=self._timeout_s)
            return _check_batch(decisions, expected)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return _deny_all(expected, late)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            return _deny_all(expected, f"{UNAVAILABLE}: {type(exc).__name__}: {_short(str(exc))}")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _check_batch(decisions: object, expected: int) -> list[Decision]:
    """``decisions`` as what an engine promised, or MalformedDecision."""
    if not isinstance(decisions, list) or len(decisions) != expected:
        raise MalformedDecision(f"expected {expected} decisions, got {_short(decisions)}")
    if not all(isinstance(d, Decision) for d in decisions):
        raise MalformedDecision("engine returned something other than Decision objects")
    return decisions


def _deny_all(n: int, reason: str) -> list[Decision]:
    return [Decision.deny(reason)] * n
