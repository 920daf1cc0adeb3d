"""`consentry init` and `consentry serve`: the data directory and the gRPC server on it.

Server commands: each checks for the server install before it imports any of the server.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consentry.services import config as cfg
from consentry.services.cli.common import DataDir, require_server, settings
from consentry.services.config import Settings
from consentry.services.crypto.errors import KeyFileError
from consentry.services.crypto.pkcs11_token import TokenError

if TYPE_CHECKING:
    from consentry.services.api.server import Server


def init(data_dir: Path | None = DataDir) -> None:
    """Create the data directory with the operator key and the service keys (0600)."""
    require_server("init")
    from consentry.services.cli.bootstrap import init_data_dir

    try:
        result = init_data_dir(settings(data_dir))
    except (KeyFileError, TokenError) as exc:
        typer.echo(f"consentry init: {exc.detail or exc}", err=True)
        raise typer.Exit(1) from exc
    for where in result.created:
        typer.echo(f"created {where}")
    if not result.created:
        typer.echo(f"{result.data_dir} already has every key; nothing changed")
    typer.echo(f"ledger verifier key: {result.ledger_verifier_key}")


def serve(listen: str = typer.Option(cfg.DEFAULT_LISTEN, help="HOST:PORT to listen on"),
          listen_without_client_cert: str | None = typer.Option(
              None, "--listen-without-client-cert", metavar="HOST:PORT",
              help="mTLS only: also listen with TLS but no client certificate, for patients and auditors"),
          insecure_plaintext: bool = typer.Option(
              False, "--insecure-plaintext", help="Allow plaintext on a non-loopback address [env: "
              "CONSENTRY_INSECURE_PLAINTEXT=1]; calls and their tokens then cross the network readable"),
          http: str | None = typer.Option(
              None, "--http", metavar="HOST:PORT",
              help="Also serve the web pages and their gRPC-Web calls here (plain HTTP on loopback only; "
              "elsewhere with the server's TLS certificate)"),
          workers: int = typer.Option(
              os.cpu_count() or 1, "--workers", min=1,
              help="Server processes sharing the port and the database (docs/scaling.md); 1: this process serves"),
          metrics: str | None = typer.Option(
              None, "--metrics", metavar="HOST:PORT", envvar="CONSENTRY_METRICS",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics (loopback only unless "
              "--metrics-off-loopback; docs/operations.md)"),
          metrics_off_loopback: bool = typer.Option(
              False, "--metrics-off-loopback", envvar="CONSENTRY_METRICS_OFF_LOOPBACK",
              help="Allow --metrics on a non-loopback address; the endpoint has no authentication"),
          log_level: str = typer.Option(
              "INFO", "--log-level", envvar="CONSENTRY_LOG_LEVEL",
              help="DEBUG, INFO (a line per call), WARNING or ERROR; JSON lines on stderr"),
          init: bool = typer.Option(
              False, "--init", help="Create the data directory and its keys first if it has none (as `consentry "
              "init`); without it, a directory that was never initialised is refused"),
          drain_grace: float | None = typer.Option(
              None, "--drain-grace", metavar="SECONDS", min=0, envvar="CONSENTRY_DRAIN_GRACE_S",
              help="On SIGTERM, how long the calls under way may take to finish before the rest are cancelled "
              "[default: 30] (docs/operations.md, \"Drain\")"),
          data_dir: Path | None = DataDir) -> None:
    """Run the gRPC server on an initialised data directory (`consentry init`, or `--init`).

    Plaintext, TLS or mTLS as configured (docs/transport.md); the start-up line says which."""
    require_server("serve")
    from consentry.services.api import call_log
    from consentry.services.api import metrics as metrics_endpoint
    from consentry.services.api.transport import ListenError, check
    from consentry.services.api.web_gateway import check as check_web
    from consentry.services.cli.bootstrap import init_data_dir

    log_level = log_level.upper()
    if log_level not in call_log.LEVELS:
        typer.echo(f"consentry serve: --log-level wants one of {', '.join(call_log.LEVELS)}, not {log_level}",
                   err=True)
        raise typer.Exit(2)
    call_log.configure(log_level)
    config = settings(data_dir)
    if insecure_plaintext:
        config = dataclasses.replace(config, insecure_plaintext=True)
    if drain_grace is not None:
        config = dataclasses.replace(config, drain_grace_s=drain_grace)
    endpoint = None
    try:
        check(config, listen, listen_without_client_cert)  # before anything is built or migrated
        if http is not None:
            check_web(config, http)
        if metrics is not None:
            metrics_endpoint.check(metrics, metrics_off_loopback)
        if init:
            init_data_dir(config)
        elif not initialised(config):
            # A typo'd --data-dir must not start a new deployment with new keys and an empty ledger.
            typer.echo(f"consentry serve: {config.data_dir} is not an initialised data directory; create it with "
                       f"`consentry init --data-dir {config.data_dir}`, or pass --init", err=True)
            raise typer.Exit(1)
        if metrics is not None:
            endpoint = metrics_endpoint.serve(metrics, workers=workers > 1)
            typer.echo(f"metrics on {endpoint.url}")
        if workers > 1:
            worker_env = {**(endpoint.worker_env() if endpoint else {}),
                          "CONSENTRY_DRAIN_GRACE_S": str(config.drain_grace_s)}
            raise typer.Exit(_serve_workers(config, workers, listen, listen_without_client_cert, http,
                                            log_level, worker_env))
        server = start(config, listen, listen_without_client_cert=listen_without_client_cert, http=http)
    except ListenError as exc:
        typer.echo(f"consentry serve: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (KeyFileError, TokenError) as exc:
        typer.echo(f"consentry serve: {exc.detail or exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if endpoint is not None and workers > 1:
            endpoint.stop()
    typer.echo(f"consentry serving {' and '.join(map(str, server.listeners))} (data: {config.data_dir})")
    if server.web is not None:
        typer.echo(f"web front door: {server.web.url} (auditor page: {server.web.url}auditor/)")
    # SIGTERM drains (docs/operations.md, "Drain"); a second one during the drain finds stop()
    # under way and returns at once: harmless, the drain goes on.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    if endpoint is not None:
        endpoint.stop()


def initialised(config: Settings) -> bool:
    """Whether `consentry init` has made the data directory (under either key provider its two
    working secrets are files there)."""
    return config.key_path(cfg.PSEUDONYM_KEY).exists() or config.key_path(cfg.KEK_FILE).exists()


def _serve_workers(config: Settings, count: int, listen: str, listen_without_client_cert: str | None,
                   http: str | None, log_level: str, env: dict[str, str]) -> int:
    from consentry.services.cli import workers

    listen, listen_without_client_cert = workers.shared_addresses(listen, listen_without_client_cert)
    workers.prepare(config)
    return workers.supervise(config, count, listen, listen_without_client_cert=listen_without_client_cert, http=http,
                             log_level=log_level, env=env)


def start(config: Settings, listen: str, *, listen_without_client_cert: str | None = None,
          http: str | None = None, shared_port: bool = False, cuts_checkpoints: bool = True) -> Server:
    """A started server on an existing data directory (the caller has called require_server);
    `shared_port` and `cuts_checkpoints` as for one worker of several (api/server.py)."""
    from consentry.services.api.server import Server
    from consentry.services.cli.bootstrap import build_app

    app, signer = build_app(config)
    try:
        server = Server(app, signer, listen, listen_without_client_cert=listen_without_client_cert, http=http,
                        shared_port=shared_port, cuts_checkpoints=cuts_checkpoints)
    except BaseException:
        app.db.dispose()
        raise
    return server.start()
