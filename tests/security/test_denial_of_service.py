"""Denial of service: no caller can flood the ledger, make a refusal unbounded, or make a page
of the ledger too large to read (docs/limits.md).

Each case names the attack and asserts the secure outcome: the status the attacker gets, how
much (how little) reached the ledger, and that auditors can still export and verify it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import grpc
import pytest
from backends import BACKENDS, database
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from harness import Harness, field_violations
from sqlalchemy import create_engine

from consentry.ledger.db import LedgerReader
from consentry.services.cli.datadir import operator_key
from consentry.services.domain.paging import MAX_PAGE_BYTES
from consentry.services.identity.tokens import Caller
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2, registry_pb2_grpc

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]
KEYS = "/consentry.v1.RegistryService/GetServiceKeys"
# The guarded server's limits: small, so that a test reaches them in a few hundred calls.
WINDOW_S, AUTH_FAILURES, CALLS_PER_S, BURST = 2.0, 50, 20.0, 40


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request, tmp_path_factory):
    """A server of its own with small rate limits and a short window."""
    directory = tmp_path_factory.mktemp("guarded")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, rate_window_s=WINDOW_S, rate_auth_failures=AUTH_FAILURES,
                          rate_calls_per_s=CALLS_PER_S, rate_burst=BURST)
        try:
            yield h
        finally:
            h.stop()


def new_entries(h: Harness, before: int) -> list[dict]:
    return h.entries()[before:]


def ledger_size(h: Harness) -> int:
    return len(h.raw_entries())


def audit(h: Harness, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, "audit", *args, "--data-dir", str(h.settings.data_dir)],
                          capture_output=True, text=True, timeout=180)


# -- one call, one bounded refusal ---------------------------------------------------------------

def test_a_fetch_naming_100000_malformed_record_ids_leaves_one_small_refusal(harness, tmp_path):
    doctor, patient = harness.org(), harness.patient()
    before = ledger_size(harness)
    with pytest.raises(grpc.RpcError) as err:
        list(doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(
            patient_id=patient.id, purpose="TREAT", record_ids=[f"not-a-uuid-{i}" for i in range(100_000)])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == {"record_ids": "must hold at most 1000 items"}
    [refusal] = new_entries(harness, before)
    assert refusal["kind"] == "call.refused" and refusal["reasons"] == ["record_ids: must hold at most 1000 items"]
    assert len(harness.raw_entries()[-1]) < 1024

    out = tmp_path / "export"
    exported = audit(harness, "export", "--target", harness.target, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    key = harness.app.ledger_verifier_key
    verified = audit(harness, "verify", str(out), "--key", key, "--state", str(tmp_path / "state.note"))
    assert verified.returncode == 0, verified.stderr


def test_a_consent_import_with_thousands_of_errors_is_refused_with_at_most_21_violations(harness):
    patient, doctor = harness.patient(), harness.org()
    provision = {"type": "permit", "purpose": [{"system": "urn:x", "code": "TREAT"}] * 800,
                 "actor": [{"reference": {"identifier": {"system": "urn:consentry:institution", "value": doctor.id}}}]}
    document = {"resourceType": "Consent", "status": "active", "provision": provision,
                **{f"attacker-text-{i}": i for i in range(800)}}
    before = ledger_size(harness)
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=json.dumps(document)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert len(violations) <= 21 and violations["request"].startswith("and ")
    assert "attacker-text" not in err.value.details() + str(violations)
    [refusal] = new_entries(harness, before)
    assert len(refusal["reasons"]) == 21 and "attacker-text" not in json.dumps(refusal)


# -- callers who cannot authenticate -------------------------------------------------------------

def _junk_call(stub, token: str) -> grpc.StatusCode:
    try:
        stub.GetServiceKeys(registry_pb2.GetServiceKeysRequest(), metadata=[("authorization", "Bearer " + token)])
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _wait_for_a_new_window() -> None:
    """Sleeps into the next rate window (the service clock is the system time)."""
    time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.05)


def _summaries(h: Harness, kind: str, seen: int, since: int, timeout: float = 15.0) -> list[dict]:
    """The `kind` summaries after entry `since` that the server's upkeep thread ledgers on its
    own, once it has ledgered at least `seen` refusals in them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in new_entries(h, since) if e["kind"] == kind]
        if sum(e["count"] for e in found) >= seen or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_200_junk_token_calls_are_summarised_per_source_then_refused_before_parsing(guarded):
    _wait_for_a_new_window()
    before = ledger_size(guarded)
    with grpc.insecure_channel(guarded.target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        began = time.time()
        codes = [_junk_call(stub, f"junk-{i}") for i in range(200)]
        windows = int(time.time() // WINDOW_S) - int(began // WINDOW_S) + 1
        with pytest.raises(grpc.RpcError) as err:
            stub.GetServiceKeys(registry_pb2.GetServiceKeysRequest(), metadata=[("authorization", "Bearer x")])
    unauthenticated = codes.count(grpc.StatusCode.UNAUTHENTICATED)
    exhausted = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert unauthenticated + exhausted == 200 and exhausted > 0
    assert AUTH_FAILURES <= unauthenticated <= AUTH_FAILURES * windows
    # A source over its limit is told when to come back.
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in rpc_status.from_call(err.value).details)
    assert 0 < retry.retry_delay.ToNanoseconds() <= WINDOW_S * 1e9

    # Once the window is over, the source may authenticate again (and read the ledger).
    _wait_for_a_new_window()
    assert guarded.operator.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_origin

    summaries = _summaries(guarded, "auth.refused", seen=201, since=before)
    assert sum(s["count"] for s in summaries) == 201
    # No entry per call: one per source and window, naming no one.
    assert [e["kind"] for e in new_entries(guarded, before)] == ["auth.refused"] * len(summaries)
    assert len({(s["source"], s["window_start"]) for s in summaries}) == len(summaries) <= windows + 1
    for s in summaries:
        assert s["actor"] == "anonymous" and s["source"] == "ipv4:127.0.0.1"
        assert set(s["failures"]) <= {"malformed_token", "rate_limited"} and s["methods"] == {KEYS: s["count"]}
    assert "junk-" not in json.dumps(summaries)


def test_a_principal_over_its_rate_is_refused_and_counted_not_ledgered_per_call(guarded):
    _wait_for_a_new_window()
    greedy, other = guarded.org(), guarded.org()
    before = ledger_size(guarded)
    codes = []
    for _ in range(BURST + 60):
        try:
            greedy.client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest())
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
    refused = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert refused > 0 and codes.count(grpc.StatusCode.OK) + refused == len(codes)
    # Another principal is not held back by the greedy one.
    assert other.client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_origin

    summaries = [s for s in _summaries(guarded, "call.rate_limited", seen=refused, since=before)
                 if s["actor"] == "org:" + greedy.id]
    assert sum(s["count"] for s in summaries) == refused
    assert all(s["failures"] == {"rate_limited": s["count"]} and "source" not in s for s in summaries)
    assert {e["kind"] for e in new_entries(guarded, before)} <= {"call.rate_limited", "auth.refused"}


def test_refusals_counted_when_the_server_stops_are_ledgered_as_it_stops(tmp_path):
    """A window still open at shutdown is not lost: stop() flushes it."""
    h = Harness.start(tmp_path / "data", f"sqlite:///{tmp_path}/consentry.db")
    try:
        with grpc.insecure_channel(h.target) as channel:
            codes = {_junk_call(registry_pb2_grpc.RegistryServiceStub(channel), "junk") for _ in range(3)}
        assert codes == {grpc.StatusCode.UNAUTHENTICATED}
    finally:
        h.stop()
    engine = create_engine(h.settings.database_url)
    try:
        with engine.connect() as conn:
            reader = LedgerReader(conn)
            entries = [json.loads(e.entry) for e in reader.entries(0, reader.size())]
    finally:
        engine.dispose()
    [summary] = [e for e in entries if e["kind"] == "auth.refused"]
    assert summary["count"] == 3 and summary["failures"] == {"malformed_token": 3}


# -- pages ---------------------------------------------------------------------------------------

def test_list_entries_pages_stay_within_the_byte_limit_and_the_export_follows_them(harness, tmp_path):
    """The largest refusals a caller can cause (20 violations with the longest descriptions), more
    than a megabyte of them: no page exceeds MAX_PAGE_BYTES, and following next_start reads all."""
    patient, doctor = harness.patient(), harness.org()
    bad_classes = [{"system": "urn:x", "code": "astrology"}] * 30
    document = {"resourceType": "Consent", "status": "active", "provision": {
        "type": "permit", "class": bad_classes,
        "actor": [{"reference": {"identifier": {"system": "urn:consentry:institution", "value": doctor.id}}}]}}
    start = harness.entries_by_seq(own_reads=True)[-1][0] + 1
    for _ in range(300):
        with pytest.raises(grpc.RpcError):
            patient.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=json.dumps(document)))
    big = [entry for seq, entry in harness.entries_by_seq(own_reads=True) if seq >= start]
    assert sum(map(len, big)) > MAX_PAGE_BYTES  # sanity: more than a page of them

    operator = harness.operator.audit
    seen, position, pages = [], start, 0
    while position < start + len(big):
        page = operator.ListEntries(audit_pb2.ListEntriesRequest(start=position, page_size=1000))
        assert page.ByteSize() <= MAX_PAGE_BYTES + 64 * len(page.entries) and page.entries
        seen += [e.entry for e in page.entries]
        position, pages = page.next_start, pages + 1
    assert pages >= 2 and seen[: len(big)] == big

    operator.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True))  # so the export covers them
    out = tmp_path / "export"
    exported = audit(harness, "export", "--target", harness.target, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    lines = (out / "entries.jsonl").read_bytes().splitlines()
    assert lines[start : start + len(big)] == big


def test_the_operator_key_still_authenticates_after_the_attacks(harness):
    caller = Caller("operator", operator_key(harness.settings))
    with grpc.insecure_channel(harness.target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        reply = stub.GetServiceKeys(registry_pb2.GetServiceKeysRequest(),
                                    metadata=[("authorization", "Bearer " + caller.token(KEYS, b""))])
    assert reply.ledger_origin
