"""End-to-end fetch rate over real gRPC, next to a bare gRPC echo measured in the same run.

Each fetch authenticates a fresh token, takes the ledger lock, evaluates the policy for every
record, decrypts, seals and signs each allowed one, appends one ledger entry per decision and
commits before streaming. Prints fetches/s, records/s, latency percentiles and the ratio to echo.

    .venv/bin/python benchmarks/fetch_bench.py [--seconds 10] [--threads 8] [--records 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from harness import Harness, grant

from consentry.v1 import exchange_pb2

PAYLOAD = os.urandom(4096)


def _echo_server() -> tuple[grpc.Server, str]:
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def _run(threads: int, seconds: float, call: Callable[[], object]) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            call()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--records", type=int, default=10)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    echo, echo_target = _echo_server()
    channel = grpc.insecure_channel(echo_target)
    call = channel.unary_unary("/bench.Echo/Echo")
    echo_lat = _run(args.threads, args.seconds, lambda: call(PAYLOAD))
    channel.close()
    echo.stop(0)
    echo_rate = len(echo_lat) / args.seconds

    with tempfile.TemporaryDirectory() as tmp:
        h = Harness.start(Path(tmp) / "data", f"sqlite:///{tmp}/consentry.db")
        try:
            hospital, doctor, patient = h.org(), h.org(), h.patient()
            body = {"resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient.id}"},
                    "category": [{"coding": [{"code": "laboratory"}]}], "note": [{"text": "x" * 800}]}
            for _ in range(args.records):
                hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                    patient_id=patient.id, fhir_json=json.dumps(body).encode()))
            grant(patient, doctor, ["lab"])

            def fetch() -> None:
                got = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                               service_key=h.service_key))
                assert sum(r.shared for r in got) == args.records

            fetch_lat = _run(args.threads, args.seconds, fetch)
        finally:
            h.stop()
    fetch_rate = len(fetch_lat) / args.seconds
    print(f"{'':28}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'bare gRPC echo (4 KiB)':28}{echo_rate:>10.0f}{_pct(echo_lat, 50):>9.2f}{_pct(echo_lat, 99):>9.2f}")
    fetch_name = f"fetch ({args.records} records, SQLite)"
    print(f"{fetch_name:28}{fetch_rate:>10.0f}{_pct(fetch_lat, 50):>9.2f}{_pct(fetch_lat, 99):>9.2f}")
    print(f"records shared/s: {fetch_rate * args.records:.0f}; fetch rate / echo rate: {fetch_rate / echo_rate:.3f}; "
          f"records/s / echo rate: {fetch_rate * args.records / echo_rate:.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f} ({args.threads} client threads, {args.seconds:.0f} s each)")


if __name__ == "__main__":
    main()
