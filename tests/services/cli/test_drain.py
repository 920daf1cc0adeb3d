"""Stopping `consentry serve` drains (docs/operations.md, "Drain"): on SIGTERM health says
NOT_SERVING, a watch ends at once with UNAVAILABLE, a fetch under way finishes within the grace
and the server then exits 0, logging the drain's start and end. A fetch the grace cuts short
leaves its shares "made available, not confirmed received" in the patient's history, where a
completed fetch's are "received" (docs/disclosure.md, "Received or made available")."""

from __future__ import annotations

import json
import secrets
import signal
import time

import grpc
import pytest
from backends import BACKENDS, database
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import grant
from test_serve_workers import people_of, serving

from consentry.services.sdk.client import FETCH_NONCE_BYTES, Client
from consentry.v1 import consent_pb2, exchange_pb2

RECORDS = 40
# Big enough that the fetch outgrows what gRPC and the sockets buffer for a reader that waits:
# the server is still sending when it is told to stop.
FILLER = 300_000
BODY = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
        b'"subject":{"reference":"Patient/%s"},"category":[{"coding":[{"code":"laboratory"}]}],'
        b'"valueString":"%s"}')
RECEIVED, NOT_CONFIRMED = consent_pb2.DELIVERY_STATUS_RECEIVED, consent_pb2.DELIVERY_STATUS_NOT_CONFIRMED


def _deposit(people, count: int):
    hospital, doctor, patient = people.org(), people.org(), people.patient()
    for _ in range(count):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=BODY % (patient.id.encode(), b"x" * FILLER)))
    grant(patient, doctor, ["lab"])
    return doctor, patient


def _fetch(doctor, patient):
    return doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(
        patient_id=patient.id, purpose="TREAT", nonce=secrets.token_bytes(FETCH_NONCE_BYTES)), timeout=120)


def _health(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def _history(target: str, patient) -> list[consent_pb2.AccessEvent]:
    client = Client(target, patient.client.caller)
    try:
        return list(client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
            patient_id=patient.id, page_size=100)).events)
    finally:
        client.close()


def _read_slowly(stream, got: list) -> None:
    for response in stream:
        got.append(response)
        time.sleep(0.2)


def _drain_lines(log) -> list[dict]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "consentry.drain"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fetch_under_way_finishes_within_the_grace_and_the_watch_is_told_to_reconnect(
        backend, tmp_path, monkeypatch):
    monkeypatch.setenv("CONSENTRY_DRAIN_GRACE_S", "60")
    with database(backend, tmp_path) as url:
        with serving(tmp_path, url) as served, people_of(served, url) as people:  # two workers
            doctor, patient = _deposit(people, RECORDS)
            watch = patient.client.consent.WatchAccess(consent_pb2.WatchAccessRequest(patient_id=patient.id))
            assert next(watch).HasField("heartbeat")
            stream = _fetch(doctor, patient)
            got = [next(stream)]
            served.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            with pytest.raises(grpc.RpcError) as ended:
                for _ in watch:
                    pass
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE, ended.value
            assert time.monotonic() - signalled < 10, "the watch held the drain"
            statuses = []
            while len(statuses) < 3:
                statuses.append(_health(served.target))
                got.append(next(stream))
                time.sleep(0.05)  # a slow reader
            with pytest.raises(grpc.RpcError) as refused:  # no new call during the drain
                next(_fetch(doctor, patient))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in refused.value.details()
            got += list(stream)
            assert set(statuses) == {health_pb2.HealthCheckResponse.NOT_SERVING}
            assert len(got) == RECORDS and all(r.HasField("shared") for r in got)
            assert served.proc.wait(timeout=60) == 0
        drains = _drain_lines(served.log)
        started = [d for d in drains if d["message"] == "drain started"]
        finished = [d for d in drains if d["message"] == "drain ended"]
        assert len(started) == len(finished) == 2, drains  # one per worker
        assert sum(d["in_flight"] for d in started) >= 2  # the fetch and the watch
        assert all(d["cut"] == 0 for d in finished), finished
        with serving(tmp_path, url) as again:
            events = _history(again.target, patient)
    assert len(events) == RECORDS
    assert {e.delivery for e in events} == {RECEIVED}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fetch_the_grace_cuts_is_made_available_but_not_confirmed_received(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("CONSENTRY_DRAIN_GRACE_S", "1")
    with database(backend, tmp_path) as url:
        with serving(tmp_path, url, workers=1) as served, people_of(served, url) as people:
            doctor, patient = _deposit(people, RECORDS)
            completed = list(_fetch(doctor, patient))
            assert len(completed) == RECORDS
            stream = _fetch(doctor, patient)
            got = [next(stream)]
            served.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            served.proc.send_signal(signal.SIGTERM)  # a second one changes nothing
            with pytest.raises(grpc.RpcError):
                _read_slowly(stream, got)
            assert len(got) < RECORDS
            assert served.proc.wait(timeout=60) == 0
        drains = _drain_lines(served.log)
        assert [d["message"] for d in drains] == ["drain started", "drain ended"], drains
        assert drains[1]["cut"] == 1 and drains[1]["level"] == "WARNING", drains
        with serving(tmp_path, url) as again:
            events = _history(again.target, patient)
    first = {e.ledger_seq: e for e in events if e.ledger_seq in {r.ledger_seq for r in completed}}
    cut = [e for e in events if e.ledger_seq not in first]
    assert len(first) == len(cut) == RECORDS
    assert {e.delivery for e in first.values()} == {RECEIVED}
    assert {e.delivery for e in cut} == {NOT_CONFIRMED}

