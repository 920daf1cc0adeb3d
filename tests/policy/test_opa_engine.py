"""OpaEngine and load_engine("opa") against OpaDataApi, an OPA Data API endpoint served in-process
and answered by OPA's own evaluator (opa_data_api.py).

What this proves: our client wiring through opa-python-client (URL parsing, policy upload with
rego_compat=False, data upload under data.consentry.*, the revision document, one POST per batch
to /v1/data/consentry/authz/decisions with {"input": {"batch": [...]}}), the request shapes, and
fail-closed handling of HTTP 500, timeouts, undefined ({}) and malformed results.

And, since the endpoint evaluates with OPA 1.20 itself, that the `opa` path gives every
decision-table case OPA's answer over HTTP. What is not OPA here is the HTTP server (the Data API's
status codes and bodies as OpaEngine uses them) and OPA's server configuration (bundles,
authentication, decision logs).
"""

from __future__ import annotations

import pytest
from opa_data_api import OpaDataApi
from policy_cases import load_cases, mismatches

from consentry.policy import load_engine
from consentry.policy.bundle import load_bundle
from consentry.policy.engine import UNAVAILABLE, PolicyError
from consentry.policy.opa import OpaEngine

CASES = list(load_cases())


@pytest.fixture
def opa():
    with OpaDataApi() as server:
        yield server


def test_upload_request_shapes(opa):
    bundle = load_bundle()
    OpaEngine(opa.url, upload=True)
    puts = {path: body for method, path, body in opa.requests if method == "PUT"}
    for name, source in bundle.modules:
        assert puts[f"/v1/policies/consentry/{name}"] == source
    for stem, document in bundle.data.items():
        assert puts[f"/v1/data/consentry/{stem}"] == document
    assert puts["/v1/data/consentry/revision"] == {"sha256": bundle.revision}


def test_every_table_case_in_one_batch(opa):
    engine = load_engine("opa", opa_url=opa.url, timeout_s=2.0)
    decisions = engine.decide([c[1] for c in CASES])
    assert [mismatches(d, c[2]) for d, c in zip(decisions, CASES, strict=True)] == [[]] * len(CASES)
    posts = [(path, body) for method, path, body in opa.requests if method == "POST"]
    assert posts == [("/v1/data/consentry/authz/decisions", {"input": {"batch": [c[1] for c in CASES]}})]


def test_shared_batch_is_one_post(opa):
    engine = load_engine("opa", opa_url=opa.url, timeout_s=2.0)
    base = next(c[1] for c in CASES if c[0].startswith("consent:"))
    shared = {k: v for k, v in base.items() if k != "resource"}
    resources = [{**base["resource"], "category": cat} for cat in ("lab", "mental-health", "imaging")]
    decisions = engine.decide_batch(shared, resources)
    assert decisions == engine.decide([{**shared, "resource": r} for r in resources])
    posts = [body for method, _, body in opa.requests if method == "POST"]
    assert posts[0] == {"input": {**shared, "resources": resources}}


def test_revision_read_back_without_upload(opa):
    uploaded = OpaEngine(opa.url, upload=True)
    assert OpaEngine(opa.url, upload=False).revision == uploaded.revision == load_bundle().revision


def test_no_revision_on_server_fails_at_start(opa):
    with pytest.raises(PolicyError):
        OpaEngine(opa.url, upload=False)


def test_env_url_is_used(opa, monkeypatch):
    monkeypatch.setenv("CONSENTRY_OPA_URL", opa.url)
    assert load_engine("opa").revision == load_bundle().revision


@pytest.mark.parametrize("mode", ["error500", "slow", "undefined", "malformed"])
def test_failures_deny(opa, mode):
    engine = load_engine("opa", opa_url=opa.url, timeout_s=0.3)
    allowed = next(c[1] for c in CASES if c[2]["allow"])
    assert engine.decide([allowed])[0].allow is True
    opa.mode = mode
    decisions = engine.decide([allowed, allowed])
    assert [d.allow for d in decisions] == [False, False]
    assert all(d.reasons[0].startswith(UNAVAILABLE + ":") for d in decisions), decisions[0].reasons


def test_unreachable_server_denies(opa):
    engine = load_engine("opa", opa_url=opa.url, timeout_s=0.3)
    opa.__exit__(None, None, None)
    allowed = next(c[1] for c in CASES if c[2]["allow"])
    [decision] = engine.decide([allowed])
    assert decision.allow is False and decision.reasons[0].startswith(UNAVAILABLE)


def test_bad_url_is_rejected():
    with pytest.raises(ValueError, match="OPA url must be http"):
        OpaEngine("ftp://example.invalid")
