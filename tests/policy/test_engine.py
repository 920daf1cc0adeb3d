"""Decision validation, FailClosed, the revision, threads, and the package's import boundary."""

from __future__ import annotations

import ast
import hashlib
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from policy_cases import load_cases

from consentry.policy import Decision, FailClosed, load_engine
from consentry.policy.bundle import POLICY_DIR, load_bundle
from consentry.policy.embedded import RegorusEngine
from consentry.policy.engine import UNAVAILABLE, MalformedDecision, PolicyEngine

CASES = list(load_cases())
GOOD = {
    "allow": True,
    "reasons": ["consent c1 covers category lab for purpose TREAT"],
    "obligations": {"redact": [], "notify_patient": False, "review": False, "pseudonymise": False},
    "consent_ids": ["c1"],
}


def test_from_result_accepts_the_contract():
    d = Decision.from_result(GOOD)
    assert d.allow is True and d.consent_ids == ("c1",) and d.obligations["redact"] == ()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "<undefined>",
        [],
        {**GOOD, "allow": "true"},
        {**GOOD, "allow": 1},
        {**GOOD, "allow": None},
        {k: v for k, v in GOOD.items() if k != "allow"},
        {**GOOD, "extra": 1},
        {**GOOD, "reasons": "ok"},
        {**GOOD, "consent_ids": [1]},
        {**GOOD, "obligations": {**GOOD["obligations"], "unknown_duty": True}},
        {**GOOD, "obligations": {**GOOD["obligations"], "review": "no"}},
        {**GOOD, "obligations": {"redact": []}},
        {**GOOD, "allow": False, "reasons": []},
    ],
)
def test_from_result_rejects_anything_else(bad):
    with pytest.raises(MalformedDecision):
        Decision.from_result(bad)


def test_deny_constructor():
    d = Decision.deny("because")
    assert (d.allow, d.reasons, d.consent_ids, d.obligations["notify_patient"]) == (False, ("because",), (), False)


class _Stub:
    revision = "0" * 64

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def decide(self, inputs):
        return self.behaviour(inputs)


def _allow_all(inputs):
    return [Decision.from_result(GOOD) for _ in inputs]


class _Panic(BaseException):  # what a pyo3 panic looks like to Python
    pass


def _raise(exc):
    def behaviour(inputs):
        raise exc

    return behaviour


@pytest.mark.parametrize(
    "behaviour",
    [
        _raise(RuntimeError("engine exploded")),
        _raise(_Panic("rust panicked")),
        lambda inputs: (time.sleep(0.5), _allow_all(inputs))[1],
        lambda inputs: _allow_all(inputs)[:-1],
        lambda inputs: [GOOD for _ in inputs],
        lambda inputs: None,
    ],
    ids=["exception", "base-exception", "timeout", "short-batch", "not-decisions", "none"],
)
def test_fail_closed_denies_every_failure(behaviour):
    engine = FailClosed(_Stub(behaviour), timeout_s=0.1)
    decisions = engine.decide([{}, {}])
    assert [d.allow for d in decisions] == [False, False]
    assert decisions[0].reasons[0].startswith(UNAVAILABLE + ": ")


def test_fail_closed_passes_good_decisions_and_empty_batches():
    engine = FailClosed(_Stub(_allow_all), timeout_s=1)
    assert [d.allow for d in engine.decide([{}, {}])] == [True, True]
    assert engine.decide([]) == []
    assert engine.revision == "0" * 64


def test_engines_satisfy_the_protocol():
    assert isinstance(RegorusEngine(), PolicyEngine)
    assert isinstance(load_engine(), PolicyEngine)


def test_load_engine_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown policy engine kind 'magic'"):
        load_engine("magic")


def test_revision_is_documented_hash():
    digest = hashlib.sha256()
    rego = sorted(p for p in POLICY_DIR.glob("*.rego") if not p.name.endswith("_test.rego"))
    for path in (*rego, *sorted((POLICY_DIR / "data").glob("*.json"))):
        content = path.read_bytes()
        name = path.relative_to(POLICY_DIR).as_posix().encode()
        digest.update(name + b"\0" + len(content).to_bytes(8, "big") + content)
    assert load_bundle().revision == digest.hexdigest() == load_engine().revision


def test_revision_changes_with_data_and_ignores_tests(tmp_path):
    copy = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = load_bundle(copy).revision
    (copy / "authz_test.rego").write_text("package consentry.authz_test\n")
    assert load_bundle(copy).revision == before
    duties = copy / "data" / "duties.json"
    duties.write_text(duties.read_text().replace('"nurse"', '"nurse2"'))
    assert load_bundle(copy).revision != before


def test_threads_share_one_engine_safely():
    """Each worker thread compiles its own regorus Engine; answers match the single-thread ones."""
    engine = load_engine(timeout_s=5)
    inputs = [c[1] for c in CASES]
    expected = engine.decide(inputs)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: engine.decide(inputs), range(32)))
    assert all(r == expected for r in results)
    assert threading.active_count() < 50


def test_policy_package_does_not_import_services():
    for path in POLICY_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith(("consentry.services", "services")) for n in names), path


class _InlineStub(_Stub):
    holds_gil = True

    def decide(self, inputs):
        self.thread = threading.current_thread()
        return self.behaviour(inputs)


@pytest.mark.parametrize(
    "behaviour",
    [
        lambda inputs: 1 / 0,
        lambda inputs: (_ for _ in ()).throw(_Panic("pyo3 panic")),
        lambda inputs: (time.sleep(0.2), _allow_all(inputs))[1],
        lambda inputs: _allow_all(inputs)[:1],
    ],
    ids=["exception", "base-exception", "late", "short-batch"],
)
def test_fail_closed_inline_denies_every_failure(behaviour):
    """An engine that holds the GIL runs on the caller's thread; a late answer is still a deny."""
    engine = FailClosed(_InlineStub(behaviour), timeout_s=0.1)
    decisions = engine.decide([{}, {}])
    assert [d.allow for d in decisions] == [False, False]
    assert decisions[0].reasons[0].startswith(UNAVAILABLE + ": ")


def test_fail_closed_runs_gil_holding_engines_inline():
    stub = _InlineStub(_allow_all)
    assert [d.allow for d in FailClosed(stub, timeout_s=1).decide([{}])] == [True]
    assert stub.thread is threading.current_thread()
    assert RegorusEngine.holds_gil is True
