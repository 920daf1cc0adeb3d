"""Helpers shared by the CLI tests (a unique module name, so it cannot clash with another suite's):
the `consentry` command in a subprocess, and `consentry serve` started and seen healthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]


def run(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data: Path, log: IO[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start `consentry serve` on a free port; return it and its target once it reports SERVING."""
    port = free_port()
    proc = subprocess.Popen([*CONSENTRY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert status.status == health_pb2.HealthCheckResponse.SERVING
    except BaseException:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    return proc, target
