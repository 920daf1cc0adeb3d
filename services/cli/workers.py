"""`consentry serve --workers N`: N server processes on one port and one database.

The parent checks the configuration, creates the data directory and migrates the database once,
makes sure no other process holds the port (a plain bind, without SO_REUSEPORT) and fixes port 0
to a concrete one; then it starts N workers (cli/serve_worker.py), fresh interpreters rather
than forks of a process that may have threads, each a full server binding that port with
SO_REUSEPORT, so the kernel spreads the connections over them. It prints the usual start-up
line once all of them serve, turns SIGTERM and Ctrl-C into a SIGTERM to each worker and waits
for them; a worker that ends on its own stops the others and the parent exits non-zero, for the
supervisor to restart the whole.

Once-per-deployment duties (docs/scaling.md, "Workers on one machine"): the first worker alone
cuts checkpoints, has them witnessed and serves the web front door; every worker ledgers the
refusal summaries it counted itself.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO

import typer

from consentry.services.api.transport import ListenError, concrete
from consentry.services.config import Settings

log = logging.getLogger("consentry.workers")

STOP_WAIT_S = 30  # beyond the workers' drain grace (docs/operations.md, "Drain")
READY = b"consentry worker serving: "  # the line a worker reports with (serve_worker.py)


@dataclass(frozen=True)
class Ready:
    """What a worker reports once it serves."""

    pid: int
    listeners: list[str]
    web: str | None


def shared_addresses(listen: str, listen_without_client_cert: str | None) -> tuple[str, str | None]:
    """The addresses the workers share, with port 0 made concrete; a unix socket cannot be shared."""
    for address in (listen, listen_without_client_cert):
        if address is not None and address.startswith(("unix:", "unix-abstract:")):
            raise ListenError(f"cannot share {address} between workers: use HOST:PORT or --workers 1")
    return concrete(listen), None if listen_without_client_cert is None else concrete(listen_without_client_cert)


def prepare(config: Settings) -> None:
    """Migrates the database and does the rest of a start's one-time work, once, before any worker."""
    from consentry.services.cli.bootstrap import build_app

    app, _signer = build_app(config)
    app.db.dispose()


def supervise(config: Settings, count: int, listen: str, *, listen_without_client_cert: str | None,
              http: str | None, log_level: str = "INFO", env: dict[str, str] | None = None) -> int:
    """Runs `count` workers until a signal or a worker's end; the exit code for `serve`. `env`:
    what the workers' environment adds (where their metrics go: api/metrics.py)."""
    workers = _Workers({**os.environ, **(env or {})})
    signal.signal(signal.SIGTERM, workers.stop)
    signal.signal(signal.SIGINT, workers.stop)
    base = [*_command(config, listen, listen_without_client_cert), "--log-level", log_level]
    for index in range(count):
        # The first worker alone does the once-per-deployment duties.
        extra = ["--cuts-checkpoints", *(["--http", http] if http is not None else [])] if index == 0 else []
        workers.start([*base, *extra])
    ready = [_ready(proc.stdout) for proc in workers.procs]
    if workers.stopping.is_set():
        return workers.stopped()
    failed = next((proc for proc, report in zip(workers.procs, ready, strict=True) if report is None), None)
    if failed is not None:
        workers.stop()
        workers.wait()
        _fail(f"worker {failed.pid} stopped before serving (exit code {failed.returncode})")
        return 1
    first = ready[0]
    assert first is not None
    typer.echo(f"consentry serving {' and '.join(first.listeners)} (data: {config.data_dir})")
    if first.web is not None:
        typer.echo(f"web front door: {first.web} (auditor page: {first.web}auditor/)")
    log.info("%d workers, pids %s", count, " ".join(str(r.pid) for r in ready if r is not None))
    return workers.watch()


class _Workers:
    """The worker processes, and stopping them."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()
        self._asked: set[int] = set()
        # Each worker drains for up to its grace on SIGTERM; the parent waits for that and more.
        self.stop_wait_s = STOP_WAIT_S + float(env.get("CONSENTRY_DRAIN_GRACE_S", "30"))

    def start(self, command: list[str]) -> None:
        # stdin: the worker stops when it ends, that is when this process is gone.
        self.procs.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           env=self.env))

    def stop(self, *_signal: object) -> None:
        """Asks each worker to stop, once: a second signal must not interrupt a worker's stop."""
        self.stopping.set()
        for proc in self.procs:
            if proc.pid not in self._asked and proc.poll() is None:
                self._asked.add(proc.pid)
                proc.send_signal(signal.SIGTERM)

    def watch(self) -> int:
        """Until a stop signal or a worker's end (then it stops the others and fails)."""
        while not self.stopping.wait(0.2):
            ended = next((proc for proc in self.procs if proc.poll() is not None), None)
            if ended is not None:
                self.stop()
                self.wait()
                _fail(f"worker {ended.pid} ended unexpectedly (exit code {ended.returncode}); stopped the others")
                return 1
        return self.stopped()

    def stopped(self) -> int:
        """After a stop signal: every worker drained and stopped; 0 if each stopped cleanly."""
        self.stop()
        log.info("stopping: each of %d workers drains", len(self.procs))
        self.wait()
        log.info("workers stopped")
        # Killed by the SIGTERM itself: asked to stop before it had set up its own stopping.
        unclean = [proc for proc in self.procs if proc.returncode not in (0, -signal.SIGTERM)]
        if unclean:
            _fail(", ".join(f"worker {proc.pid} exit code {proc.returncode}" for proc in unclean))
            return 1
        return 0

    def wait(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=self.stop_wait_s)
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop within %d s; killed", proc.pid, self.stop_wait_s)
                proc.kill()
                proc.wait()


def _command(config: Settings, listen: str, listen_without_client_cert: str | None) -> list[str]:
    command = [sys.executable, "-m", "consentry.services.cli.serve_worker", "--data-dir", str(config.data_dir),
               "--listen", listen]
    if listen_without_client_cert is not None:
        command += ["--listen-without-client-cert", listen_without_client_cert]
    if config.insecure_plaintext:
        command.append("--insecure-plaintext")
    return command


def _ready(stdout: IO[bytes] | None) -> Ready | None:
    """The worker's report, or None if it ended without one."""
    assert stdout is not None
    for line in stdout:  # anything else a library printed is passed on
        if line.startswith(READY):
            report = json.loads(line.removeprefix(READY))
            return Ready(report["pid"], report["listeners"], report["web"])
        sys.stderr.buffer.write(line)
    return None


def _fail(message: str) -> None:
    typer.echo(f"consentry serve: {message}", err=True)
