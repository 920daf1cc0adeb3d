"""Helpers shared by the CLI tests (a unique module name, so it cannot clash with another suite's):
the `consentry` command in a subprocess, what its success and its refusals look like, a person
enrolled by the CLI, and `consentry serve` started and seen healthy."""

from __future__ import annotations

import json
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


def serve(data: Path, log: IO[str], env: dict[str, str] | None = None,
          args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start `consentry serve` (with `args`, e.g. ("--workers", "2")) on a free port; return it and
    its target once it reports SERVING."""
    port = free_port()
    proc = subprocess.Popen([*CONSENTRY, "serve", "--init", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                             *args],
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


def ok(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def one_line(result, prefix: str, code: int = 1) -> str:
    """A refusal: the exit code, one line on stderr starting with the command, no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(prefix), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


def enrol_patient(story: dict, name: str) -> list[str]:
    """A patient (or proxy) whose key the CLI made and the operator's CLI enrolled: their flags."""
    key = story["dir"] / f"{name}.key"
    public = ok(run("patient", "key", "new", "--out", str(key)))[0]
    ok(run("operator", "enrol-patient", "--id", name, "--identity-public-key", public, *story["operator"]))
    return ["--key", str(key), "--as", f"patient:{name}", *story["server"]]


NOTICE_PARTS = ("recipient_legal_name", "recipient_contact", "purpose_description", "handling_method",
                "necessity_and_impact", "retention", "how_to_withdraw")


def notice_file(path: Path, name: str, purposes: list[str], categories: list[str]) -> Path:
    """A complete privacy notice as `consentry org notice publish --file` reads it: each part
    names the language and the part, so a test can see which text was shown."""
    texts = [{"language": lang, **{part: f"{name} {lang} {part}" for part in NOTICE_PARTS}}
             for lang in ("en", "zh-Hans")]
    path.write_text(json.dumps({"purposes": purposes, "categories": categories, "texts": texts}))
    return path


def published(result) -> tuple[str, str, str]:
    """What `consentry org notice publish` printed: the notice id, vN and the content hash (hex)."""
    (line,) = ok(result)
    notice_id, version, sha256 = line.split("\t")
    return notice_id, version, sha256
