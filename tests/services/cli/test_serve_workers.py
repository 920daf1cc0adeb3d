"""`consentry serve --workers N`: N server processes on one port and one database. The kernel
spreads the connections over the workers, a revocation through one is seen through all, a port
held by any other process is refused in one line, SIGTERM stops them all and a worker that dies
takes the service down for its supervisor to restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from backends import BACKENDS, database
from cli_helpers import CONSENTRY, one_line, run
from harness import Harness, grant

from consentry.services import config as cfg
from consentry.services.cli.datadir import operator_key
from consentry.services.config import Settings
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},"category":[{"coding":[{"code":"laboratory"}]}]}')
CHANNELS = 16  # all on one of two workers by chance: 1 in 2**15
TCP_ESTABLISHED = "01"


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    data: Path
    log: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The pids of the parent's children, as the process tree shows them."""
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue  # gone meanwhile
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    children.append(int(entry.name))
        return sorted(children)


@contextmanager
def serving(tmp_path: Path, url: str, workers: int = 2, data: Path | None = None) -> Iterator[Served]:
    """`consentry serve --workers N` on a port of its choosing, once it has said it serves; on
    `tmp_path / "data"` unless another data directory is given."""
    data, log = data or tmp_path / "data", tmp_path / "serve.log"
    env = {**os.environ, "CONSENTRY_DATABASE_URL": url}
    with open(log, "w") as out:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init", "--listen", "127.0.0.1:0", "--workers", str(workers),
                                 "--data-dir", str(data)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        port = _served_port(proc, log, data)
        yield Served(proc, port, data, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)


def _served_port(proc: subprocess.Popen, log: Path, data: Path) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("consentry serving plaintext on 127.0.0.1:"):
                assert line.endswith(f" (data: {data})"), line
                return int(line.split("127.0.0.1:")[1].split(" ")[0])
        time.sleep(0.1)
    raise AssertionError(f"no start-up line: {log.read_text()}")


def connections_by_worker(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to `port` each process holds open, from /proc: which
    worker the kernel gave each channel's connection to."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == TCP_ESTABLISHED:
                established.add(fields[9])  # the socket's inode
    counts = {}
    for pid in pids:
        sockets = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink()}
        counts[pid] = sum(f"socket:[{inode}]" in sockets for inode in established)
    return counts


@contextmanager
def people_of(served: Served, url: str) -> Iterator[Harness]:
    """The harness's helpers (institutions, patients, grants, ledger reads) for a served
    deployment it did not start; afterwards its clients are closed, the server left alone."""
    settings = Settings(data_dir=served.data, database_url=url)
    operator = Client(served.target, Caller("operator", operator_key(settings)))
    people = Harness(settings, None, served.target, operator)  # type: ignore[arg-type]  # its helpers only
    try:
        yield people
    finally:
        for client in [operator, *people.clients]:
            client.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_share_the_calls_and_a_revocation_reaches_every_one(backend, tmp_path):
    with database(backend, tmp_path) as url, serving(tmp_path, url) as served, people_of(served, url) as people:
        settings = people.settings
        hospital, doctor, patient = people.org(), people.org(), people.patient()
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
        consent = grant(patient, doctor, ["lab"])
        service_key = keyfiles.load_signing_key(settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
        # Channels with the same target and options would share one connection; a different
        # limit each gives each its own, which the kernel hands to either worker.
        channels = [Client(served.target, doctor.client.caller, max_body_bytes=cfg.DEFAULT_MAX_BODY_BYTES + i)
                    for i in range(CHANNELS)]
        people.clients.extend(channels)

        def shared(channel: Client) -> int:
            return sum(r.shared for r in channel.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                       service_key=service_key))

        with ThreadPoolExecutor(CHANNELS) as pool:  # every channel at once, three times over
            assert list(pool.map(shared, channels * 3)) == [1] * CHANNELS * 3
        workers = served.workers()
        assert len(workers) == 2
        by_worker = connections_by_worker(workers, served.port)
        assert sum(by_worker.values()) >= CHANNELS, by_worker
        assert all(count > 0 for count in by_worker.values()), by_worker  # both workers answered

        patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
        for channel in channels:  # whichever worker a channel reaches, the next fetch is refused
            with pytest.raises(grpc.RpcError) as refused:
                shared(channel)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so_reuseport"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_held_by_another_process_is_refused_in_one_line(workers, reuse_port, tmp_path):
    """Even a holder that allows sharing (SO_REUSEPORT, as gRPC servers do by default) keeps its
    port: only the workers of one `serve` share theirs."""
    with socket.socket() as holder:
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        target = f"127.0.0.1:{holder.getsockname()[1]}"
        result = run("serve", "--listen", target, "--workers", str(workers), "--data-dir", str(tmp_path / "data"),
                     timeout=60)
    assert one_line(result, "consentry serve: ") == (
        f"consentry serve: cannot listen on {target}: the address is already in use\n")
    assert result.stdout == ""


def test_a_unix_socket_is_not_shared_between_workers(tmp_path):
    result = run("serve", "--init", "--listen", f"unix:{tmp_path}/s", "--workers", "2",
                 "--data-dir", str(tmp_path / "data"))
    assert one_line(result, "consentry serve: ") == (
        f"consentry serve: cannot share unix:{tmp_path}/s between workers: use HOST:PORT or --workers 1\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_stops_every_worker_and_exits_0(backend, tmp_path):
    with database(backend, tmp_path) as url, serving(tmp_path, url) as served:
        workers = served.workers()
        assert len(workers) == 2
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=30) == 0, served.log.read_text()
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        assert "Traceback" not in served.log.read_text()


def test_a_worker_that_dies_stops_the_others_and_the_parent_fails(tmp_path):
    with database("sqlite", tmp_path) as url, serving(tmp_path, url) as served:
        victim, other = served.workers()
        os.kill(victim, signal.SIGKILL)
        assert served.proc.wait(timeout=30) == 1
        assert not Path(f"/proc/{other}").exists()
        said = [line for line in served.log.read_text().splitlines() if line.startswith("consentry serve: ")]
        assert said == [f"consentry serve: worker {victim} ended unexpectedly (exit code -9); stopped the others"]
