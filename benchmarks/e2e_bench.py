"""Throughput as users see it: `consentry serve` in its own process, client processes beside it,
and a bare gRPC echo server (also its own process) measured in the same run.

Every fetch is the SDK's: a fresh signed token, the stream, and each package's signature checked
and body decrypted on the client. Records are ~4 KiB FHIR Observations. Each client thread works
for its own patient (16 patients, each with --records records and a consent for the fetcher).
Prints one table per backend: calls/s, records/s, p50 and p99 latency, and records/s (or calls/s
for single-record and write phases) divided by the echo's calls/s.

    .venv/bin/python benchmarks/e2e_bench.py [--seconds 10] [--clients 16] [--procs 2]
        [--backend sqlite] [--backend postgresql --pg-url postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from consentry.services import config as cfg
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import common_pb2, consent_pb2, exchange_pb2

PAYLOAD = os.urandom(4096)
ECHO = "/bench.Echo/Echo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(target: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server at {target} exited with {proc.returncode}")
        with grpc.insecure_channel(target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                continue
    raise SystemExit(f"the server at {target} did not start")


# -- the echo server, run as `e2e_bench.py echo PORT` ----------------------------------------

def serve_echo(port: int) -> None:
    from concurrent import futures

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


# -- load: each client process runs its threads for the phase's seconds ----------------------

def client_process(job: dict[str, Any], seconds: float, threads: int, first: int, out: Any) -> None:
    barrier = threading.Barrier(threads)
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        call = make_call(job, first + n)
        call()  # warm: channel, first token
        barrier.wait()
        mine = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            call()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.send(latencies)


def make_call(job: dict[str, Any], n: int) -> Callable[[], object]:
    if job["phase"] == "echo":
        channel = grpc.insecure_channel(job["target"])
        echo = channel.unary_unary(ECHO)
        return lambda: echo(PAYLOAD)
    if job["phase"] in ("fetch", "fetch1"):
        doctor = job["doctor"]
        client = Client(job["target"], Caller(doctor["principal"], SigningKey(doctor["identity"]),
                                              role="physician", practitioner="dr-bench"))
        recipient, service_key = PrivateKey(doctor["encryption"]), VerifyKey(job["share_verify"])
        patient = job["patients"][n % len(job["patients"])]
        record_ids = tuple(patient["records"][:1]) if job["phase"] == "fetch1" else ()
        expected = len(record_ids) or len(patient["records"])

        def fetch() -> None:
            got = list(client.fetch(patient["id"], "TREAT", recipient_key=recipient, service_key=service_key,
                                    record_ids=record_ids))
            if sum(r.shared for r in got) != expected:
                raise SystemExit("a fetch did not share every record")
        return fetch
    patient = job["patients"][n % len(job["patients"])]
    client = Client(job["target"], Caller("patient:" + patient["id"], SigningKey(patient["identity"])))
    if job["phase"] == "grant":
        request = consent_pb2.GrantConsentRequest(
            patient_id=patient["id"], grantee=job["doctor"]["id"], notice=common_pb2.NoticeRef(**job["notice"]),
            terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))
        return lambda: client.consent.GrantConsent(request)
    hospital = job["hospital"]
    client = Client(job["target"], Caller(hospital["principal"], SigningKey(hospital["identity"]),
                                          role="physician", practitioner="dr-bench"))
    body = observation(patient["id"])
    return lambda: client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient["id"], fhir_json=body))


def observation(patient_id: str) -> bytes:
    """A ~4 KiB lab Observation."""
    return json.dumps({
        "resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient_id}"},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
        "valueQuantity": {"value": 12, "unit": "mg/L"}, "note": [{"text": "x" * 3900}],
    }).encode()


def run_phase(job: dict[str, Any], seconds: float, clients: int, procs: int) -> list[float]:
    ctx = mp.get_context("spawn")
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    pipes, workers, first = [], [], 0
    for threads in per:
        receive, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=client_process, args=(job, seconds, threads, first, send))
        p.start()
        pipes.append(receive)
        workers.append(p)
        first += threads
    latencies: list[float] = []
    for receive in pipes:
        latencies.extend(receive.recv())
    for p in workers:
        p.join()
    return latencies


# -- the server under test, and its data ----------------------------------------------------

def start_consentry(data: Path, database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    target = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "CONSENTRY_DATABASE_URL": database_url}
    log = open(data.parent / "serve.log", "w")  # noqa: SIM115 (closed with the process)
    command = [sys.executable, "-m", "consentry.services.cli.main", "serve", "--init", "--listen", target,
               "--data-dir", str(data), "--workers", str(workers)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_ready(target, proc)
    return proc, target


def populate(target: str, data: Path, patients: int, records: int) -> dict[str, Any]:
    """Registers a hospital and a family doctor, enrols the patients, deposits and consents."""
    from harness import notice_texts

    from consentry.services.cli.datadir import operator_key, share_verify_key
    from consentry.v1 import registry_pb2

    settings = cfg.Settings.load(data)  # the key provider as configured: files or a PKCS#11 token
    operator = Client(target, Caller("operator", operator_key(settings)))
    orgs, notices = {}, {}
    for name, kind in (("hospital", registry_pb2.INSTITUTION_KIND_HOSPITAL),
                       ("doctor", registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)):
        org_id, identity, encryption = f"bench-{name}", SigningKey.generate(), PrivateKey.generate()
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=org_id, display_name=org_id, kind=kind, identity_public_key=bytes(identity.verify_key),
            encryption_public_key=bytes(encryption.public_key)))
        operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org_id, practitioner_id="dr-bench", roles=["physician"]))
        ref = operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
            institution_id=org_id, purposes=["TREAT"], categories=["lab"], texts=notice_texts(org_id))).ref
        orgs[name] = {"id": org_id, "principal": "org:" + org_id, "identity": bytes(identity),
                      "encryption": bytes(encryption)}
        notices[name] = ref
    hospital = Client(target, Caller("org:bench-hospital", SigningKey(orgs["hospital"]["identity"]),
                                     role="physician", practitioner="dr-bench"))
    notice = notices["doctor"]
    people = []
    for _ in range(patients):
        patient_id, identity = f"P{secrets.token_hex(5)}", SigningKey.generate()
        operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id=patient_id, identity_public_key=bytes(identity.verify_key)))
        ids = [hospital.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient_id, fhir_json=observation(patient_id))).record.record_id for _ in range(records)]
        with Client(target, Caller("patient:" + patient_id, identity)) as patient:
            patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
                patient_id=patient_id, grantee=orgs["doctor"]["id"], notice=notice,
                terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
        people.append({"id": patient_id, "identity": bytes(identity), "records": ids})
    operator.close()
    hospital.close()
    return {"target": target, "doctor": orgs["doctor"], "hospital": orgs["hospital"], "patients": people,
            "share_verify": bytes(share_verify_key(settings)),
            "notice": {"notice_id": notice.notice_id, "version": notice.version, "content_hash": notice.content_hash}}


def pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh database beside `base_url`'s, and how to drop it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"consentry_bench_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), drop


# -- the report ---------------------------------------------------------------------------

# Each phase: its name in the table, and records per call (None: --records; 0 for writes).
PHASES: dict[str, tuple[str, int | None]] = {
    "fetch": ("fetch of {records}", None), "fetch1": ("fetch of 1", 1), "deposit": ("deposit (PutRecord)", 0),
    "grant": ("grant (GrantConsent)", 0), "one": ("fetch of 1, one client", 1),
}


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


def row(name: str, lat: list[float], seconds: float, records: int, echo_rate: float) -> str:
    calls = len(lat) / seconds
    recs = calls * records if records else 0.0
    ratio = (recs if records > 1 else calls) / echo_rate
    shown = f"{recs:>10,.0f}" if records else f"{'–':>10}"
    return f"| {name:<34} | {calls:>8,.0f} | {shown} | {pct(lat, 50):>7.1f} | {pct(lat, 99):>7.1f} | {ratio:>6.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2, help="client processes sharing --clients threads")
    ap.add_argument("--records", type=int, default=10)
    ap.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    ap.add_argument("--pg-url", default=os.environ.get("CONSENTRY_TEST_PG_URL", ""))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes (serve --workers)")
    ap.add_argument("--phase", action="append", choices=PHASES, help="only these phases (default: all)")
    args = ap.parse_args()
    backends = args.backend or ["sqlite"]
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; "
          f"{args.clients} clients in {args.procs} processes; {args.seconds:.0f} s per phase; "
          f"server: consentry serve --workers {args.workers}")

    port = free_port()
    echo = subprocess.Popen([sys.executable, __file__, "echo", str(port)])
    try:
        wait_ready(f"127.0.0.1:{port}", echo)
        echo_lat = run_phase({"phase": "echo", "target": f"127.0.0.1:{port}"}, args.seconds, args.clients, args.procs)
    finally:
        echo.terminate()
        echo.wait()
    echo_rate = len(echo_lat) / args.seconds
    header = f"| {'phase':<34} | {'calls/s':>8} | {'records/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'÷ echo':>6} |"
    lines = [header, "|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|",
             row("bare echo (4 KiB)", echo_lat, args.seconds, 0, echo_rate)]
    for backend in backends:
        lines += measure_backend(backend, args, echo_rate)
        print("\n".join(lines), flush=True)
        lines = []
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def measure_backend(backend: str, args: argparse.Namespace, echo_rate: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        drop = None
        if backend == "postgresql":
            if not args.pg_url:
                raise SystemExit("--backend postgresql needs --pg-url (or CONSENTRY_TEST_PG_URL)")
            url, drop = pg_database(args.pg_url)
        else:
            url = f"sqlite:///{tmp}/consentry.db"
        proc, target = start_consentry(data, url, args.workers)
        try:
            job = populate(target, data, args.clients, args.records)
            out = []
            for phase in args.phase or PHASES:
                name, per_call = PHASES[phase]
                name, records = name.format(records=args.records), args.records if per_call is None else per_call
                clients, procs = (1, 1) if phase == "one" else (args.clients, args.procs)
                lat = run_phase({**job, "phase": "fetch1" if phase == "one" else phase}, args.seconds, clients, procs)
                out.append(row(f"{name}, {backend}", lat, args.seconds, records, echo_rate))
            return out
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            if drop is not None:
                drop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        serve_echo(int(sys.argv[2]))
    else:
        main()
