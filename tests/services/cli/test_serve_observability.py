"""`consentry serve --metrics HOST:PORT` and its JSON call log (docs/operations.md): a scrape after
a few calls shows them counted with the right labels (summed over the workers of `--workers 2`),
each call logs one JSON line whose request id is the one its caller got back, `--log-level
WARNING` silences those lines, no line names a patient, and an endpoint off loopback is refused
unless the operator allows it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from backends import BACKENDS, database
from cli_helpers import CONSENTRY, one_line, run
from harness import grant
from prometheus_client.parser import text_string_to_metric_families
from test_serve_workers import connections_by_worker, people_of

from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.services.sdk.client import Client
from consentry.v1 import audit_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},"category":[{"coding":[{"code":"laboratory"}]}]}')
FETCH = "/consentry.v1.ExchangeService/FetchRecords"
PUT = "/consentry.v1.ExchangeService/PutRecord"
CHANNELS = 16  # with two workers, all on one of them by chance: 1 in 2**15


@dataclass
class Served:
    proc: subprocess.Popen
    target: str
    metrics: str | None
    data: Path
    err: Path

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        assert self.metrics is not None
        with urllib.request.urlopen(self.metrics, timeout=10) as reply:  # noqa: S310 (loopback)
            text = reply.read().decode()
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def workers(self) -> list[int]:
        """The pids of `serve`'s children (its workers), or `serve` itself with one worker."""
        children = [int(task.name) for task in Path("/proc").iterdir() if task.name.isdigit()
                    and _parent(task) == self.proc.pid]
        return sorted(children) or [self.proc.pid]

    def stop(self) -> list[dict]:
        """Stops the server; every line it logged, each parsed as JSON."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        return [json.loads(line) for line in self.err.read_text().splitlines()]


@contextmanager
def serving(tmp_path: Path, url: str, *args: str) -> Iterator[Served]:
    data, out, err = tmp_path / "data", tmp_path / "serve.out", tmp_path / "serve.err"
    env = {**os.environ, "CONSENTRY_DATABASE_URL": url}
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init",
                                 "--listen", "127.0.0.1:0", "--data-dir", str(data), *args],
                                stdout=stdout, stderr=stderr, env=env)
    try:
        deadline, target, metrics = time.monotonic() + 120, None, None
        while target is None and time.monotonic() < deadline and proc.poll() is None:
            for line in out.read_text().splitlines():
                if line.startswith("metrics on "):
                    metrics = line.removeprefix("metrics on ")
                if line.startswith("consentry serving plaintext on "):
                    target = line.split(" on ")[1].split(" ")[0]
            time.sleep(0.1)
        assert target is not None, out.read_text() + err.read_text()
        yield Served(proc, target, metrics, data, err)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)


def _parent(task: Path) -> int | None:
    try:
        return int((task / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def request_id(call) -> str:
    [rid] = [v for k, v in call.trailing_metadata() if k == "x-request-id"]
    return rid


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_are_counted_and_logged_once_each(backend, workers, tmp_path):
    with (database(backend, tmp_path) as url,
          serving(tmp_path, url, "--metrics", "127.0.0.1:0", "--workers", str(workers)) as served,
          people_of(served, url) as people):
        hospital, doctor, stranger, patient = people.org(), people.org(), people.org(), people.patient()
        _, put = hospital.client.exchange.PutRecord.with_call(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
        grant(patient, doctor, ["lab"])
        service_key = keyfiles.load_signing_key(people.settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
        # A different limit each gives each channel its own connection, to either worker.
        channels = [Client(served.target, doctor.client.caller, max_body_bytes=cfg.DEFAULT_MAX_BODY_BYTES + i)
                    for i in range(CHANNELS)]
        people.clients.extend(channels)

        def shared(channel: Client) -> int:
            return sum(r.shared for r in channel.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                       service_key=service_key))

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(shared, channels)) == [1] * CHANNELS
        by_worker = connections_by_worker(served.workers(), int(served.target.rsplit(":", 1)[1]))
        assert len(by_worker) == workers and all(by_worker.values()), by_worker  # each worker served some
        with pytest.raises(grpc.RpcError) as refused:  # no consent for this institution
            list(stranger.client.fetch(patient.id, "TREAT", recipient_key=stranger.encryption,
                                       service_key=service_key))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        hospital.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True))

        samples = served.scrape()
        assert value(samples, "consentry_grpc_calls_total", method=FETCH, code="OK") == CHANNELS
        assert value(samples, "consentry_grpc_calls_total", method=FETCH, code="PERMISSION_DENIED") == 1
        assert value(samples, "consentry_grpc_calls_total", method=PUT, code="OK") == 1
        assert value(samples, "consentry_grpc_call_duration_seconds_count", method=FETCH) == CHANNELS + 1
        assert value(samples, "consentry_grpc_call_duration_seconds_bucket", method=FETCH, le="+Inf") == CHANNELS + 1
        assert value(samples, "consentry_disclosures_total", outcome="shared") == CHANNELS
        assert value(samples, "consentry_policy_evaluation_seconds_count", call="batch") >= CHANNELS
        assert value(samples, "consentry_ledger_append_batch_entries_count") >= CHANNELS + 1
        ledger_size = value(samples, "consentry_ledger_entries")
        assert value(samples, "consentry_ledger_append_batch_entries_sum") <= ledger_size
        assert 0 < value(samples, "consentry_ledger_checkpoint_entries") <= ledger_size
        assert abs(value(samples, "consentry_ledger_checkpoint_timestamp_seconds") - time.time()) < 60
        pool_label = "write" if backend == "sqlite" else "shared"
        assert value(samples, "consentry_db_pool_size", pool=pool_label) > 0

        with pytest.raises(grpc.RpcError) as denied:  # a patient may not deposit
            patient.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        put_id, denied_id = request_id(put), request_id(denied.value)
        assert put_id != denied_id

    lines = served.stop()
    calls = [line for line in lines if "method" in line]
    by_id = {line["request_id"]: line for line in calls}
    assert len(by_id) == len(calls)  # one line per call, each its own id
    assert {k: by_id[put_id][k] for k in ("method", "code", "principal")} == {
        "method": PUT, "code": "OK", "principal": "org"}
    assert {k: by_id[denied_id][k] for k in ("method", "code", "principal")} == {
        "method": PUT, "code": "PERMISSION_DENIED", "principal": "patient"}
    fetches = [line for line in calls if line["method"] == FETCH]
    assert sorted(line["code"] for line in fetches) == ["OK"] * CHANNELS + ["PERMISSION_DENIED"]
    assert all(line["level"] == "INFO" and line["duration_ms"] >= 0 for line in calls)
    assert {line["principal"] for line in calls} <= {"operator", "org", "patient", "auditor", "anonymous"}
    everything = served.err.read_text()
    assert patient.id not in everything and "CRP" not in everything


def test_log_level_warning_silences_the_call_lines(tmp_path):
    with (database("sqlite", tmp_path) as url,
          serving(tmp_path, url, "--workers", "1", "--log-level", "WARNING") as served,
          people_of(served, url) as people):
        people.org()  # calls: the operator registers it
    lines = served.stop()
    assert not [line for line in lines if "method" in line or line["level"] == "INFO"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_metrics_off_loopback_are_refused_in_one_line(how, tmp_path):
    flag, env = (["--metrics", "0.0.0.0:9100"], {}) if how == "flag" else ([], {"CONSENTRY_METRICS": "0.0.0.0:9100"})
    result = run("serve", *flag, "--data-dir", str(tmp_path / "data"), env=env, timeout=60)
    assert one_line(result, "consentry serve: ") == (
        "consentry serve: refusing to serve metrics on 0.0.0.0:9100, which is not a loopback address: the "
        "endpoint has no authentication; scrape it on loopback or pass --metrics-off-loopback "
        "[env: CONSENTRY_METRICS_OFF_LOOPBACK=1]\n")
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_metrics_off_loopback_are_served_when_allowed(tmp_path):
    with (database("sqlite", tmp_path) as url,
          serving(tmp_path, url, "--workers", "1", "--metrics", "0.0.0.0:0", "--metrics-off-loopback") as served):
        assert served.metrics is not None and served.metrics.startswith("http://0.0.0.0:")
        port = served.metrics.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert b"consentry_grpc_calls" in reply.read()
