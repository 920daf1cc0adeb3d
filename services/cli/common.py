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

from consentry.services.config import Settings

SERVER_INSTALL = "pip install 'consentry[server]'"
# The top-level modules of what only `consentry[server]` installs (pyproject.toml).
SERVER_MODULES = ("sqlalchemy", "alembic", "psycopg", "regorus", "opa_client", "orjson",
                  "grpc_health", "grpc_reflection")

DataDir = typer.Option(None, "--data-dir", help="Database and keys [default: $CONSENTRY_HOME or ./consentry-data]")


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
