"""The metrics endpoint of `serve --metrics HOST:PORT` (docs/operations.md, "Metrics"), and the
policy engine timed into services/metrics.py.

The endpoint is plain HTTP without authentication, so like plaintext gRPC it listens on a
loopback address only, unless the operator says otherwise (`--metrics-off-loopback`). One
process serves it: `serve` itself with one worker; with several, the parent, which reads what
every worker wrote into the private directory it made for them (prometheus-client's
multiprocess mode), so one scrape sees the deployment's totals.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

from consentry.policy.engine import Decision, PolicyEngine
from consentry.services import metrics
from consentry.services.api.transport import ListenError, is_loopback

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when a worker imports it


def check(address: str, off_loopback: bool) -> None:
    """Refuses, in one line, an address the endpoint would not or could not serve."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ListenError(f"--metrics wants HOST:PORT, not {address!r}")
    if not off_loopback and not is_loopback(address):
        raise ListenError(f"refusing to serve metrics on {address}, which is not a loopback address: the "
                          "endpoint has no authentication; scrape it on loopback or pass --metrics-off-loopback "
                          "[env: CONSENTRY_METRICS_OFF_LOOPBACK=1]")


@dataclass
class Endpoint:
    """A serving metrics endpoint; `url` names the bound port (useful with port 0)."""

    url: str
    _stop: Callable[[], None]
    _workers_dir: str | None = None

    def stop(self) -> None:
        self._stop()
        if self._workers_dir is not None:
            shutil.rmtree(self._workers_dir, ignore_errors=True)

    def worker_env(self) -> dict[str, str]:
        """What a worker's environment needs for its metrics to reach this endpoint."""
        return {MULTIPROC_ENV: self._workers_dir} if self._workers_dir is not None else {}


def serve(address: str, *, workers: bool = False) -> Endpoint:
    """Serves /metrics on `address` (checked by `check`): this process's metrics, or with
    `workers` those of the processes started with `Endpoint.worker_env()`."""
    host, _, port = address.rpartition(":")
    registry: CollectorRegistry = REGISTRY
    workers_dir = None
    if workers:
        workers_dir = tempfile.mkdtemp(prefix="consentry-metrics-")  # 0700: the workers' alone
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=workers_dir)
    try:
        http, thread = start_http_server(int(port), host.strip("[]"), registry=registry)
    except OSError as exc:
        if workers_dir is not None:
            shutil.rmtree(workers_dir, ignore_errors=True)
        raise ListenError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from exc

    def stop() -> None:
        http.shutdown()
        http.server_close()
        thread.join()

    return Endpoint(f"http://{host}:{http.server_port}/metrics", stop, workers_dir)


class TimedPolicy:
    """A policy engine whose every decision call is timed into POLICY_SECONDS; otherwise the
    engine itself (fail-closed as it is)."""

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine

    @property
    def revision(self) -> str:
        return self._engine.revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        started = time.perf_counter()
        try:
            return self._engine.decide(inputs)
        finally:
            metrics.POLICY_SECONDS.labels("decide").observe(time.perf_counter() - started)

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        started = time.perf_counter()
        try:
            return self._engine.decide_batch(shared, resources)
        finally:
            metrics.POLICY_SECONDS.labels("batch").observe(time.perf_counter() - started)
