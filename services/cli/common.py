"""What the command groups share: the data directory option, and the server-install check.

`pip install consentry` is the SDK, the audit commands and the demo against a running server;
the server itself needs `consentry[server]`. A server command calls `require_server(name)`
before it imports anything of the server, so that without the extra it stops with one line
saying what to install, not a traceback from deep inside an import.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from consentry.services import config as cfg
from consentry.services.config import Settings
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.call_policy import RetryPolicy
from consentry.services.sdk.client import DEFAULT_TIMEOUT_S, Client

SERVER_INSTALL = "pip install 'consentry[server]'"
# The top-level modules of what only `consentry[server]` installs (pyproject.toml).
SERVER_MODULES = ("sqlalchemy", "alembic", "psycopg", "regorus", "opa_client", "orjson",
                  "grpc_health", "grpc_reflection", "fhir", "fhir_core")

DataDir = typer.Option(None, "--data-dir", help="Database and keys [default: $CONSENTRY_HOME or ./consentry-data]")
# A client command's certificate for a mutual-TLS server (docs/transport.md); the server's CA is
# $CONSENTRY_TLS_CA.
TlsClientCert = typer.Option(None, "--tls-client-cert", envvar="CONSENTRY_TLS_CLIENT_CERT", dir_okay=False,
                             help="mTLS: the client certificate chain (PEM)")
TlsClientKey = typer.Option(None, "--tls-client-key", envvar="CONSENTRY_TLS_CLIENT_KEY", dir_okay=False,
                            help="mTLS: the client certificate's private key (PEM)")


def settings(data_dir: Path | None) -> Settings:
    return Settings.load(data_dir)


def require_server(command: str) -> None:
    """Exits with one line naming the server install when any of its modules is missing."""
    missing = [name for name in SERVER_MODULES if not _importable(name)]
    if missing:
        typer.echo(f"consentry {command} needs the server install (missing: {', '.join(missing)}): "
                   f"{SERVER_INSTALL}", err=True)
        raise typer.Exit(1)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name, or a broken parent package
        return False


def connect(target: str, caller: Caller, tls_client_cert: Path | None, tls_client_key: Path | None) -> Client:
    """The command's client: TLS when $CONSENTRY_TLS_CA names the server's CA, mutual TLS with a
    client certificate and its key (both or neither). Each call has $CONSENTRY_CLIENT_TIMEOUT_S to
    finish (not a watch); a read or write that fails UNAVAILABLE is tried up to
    $CONSENTRY_CLIENT_ATTEMPTS times, each write with an idempotency key of its own (one the
    command gave, or a fresh one) so that a retry never writes twice."""
    timeout_s = cfg.client_timeout_s(DEFAULT_TIMEOUT_S)
    retry = RetryPolicy(attempts=cfg.client_attempts(RetryPolicy.attempts))
    if (tls_client_cert is None) != (tls_client_key is None):
        raise typer.BadParameter("give both --tls-client-cert and --tls-client-key, or neither")
    try:
        chain = tls_client_cert.read_bytes() if tls_client_cert else None
        key = tls_client_key.read_bytes() if tls_client_key else None
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {exc.filename}: {exc.strerror}") from exc
    return Client(target, caller, timeout_s=timeout_s, retry=retry, idempotency_keys=True,
                  root_certificates=cfg.client_root_certificates(), certificate_chain=chain, private_key=key)
