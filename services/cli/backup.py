"""`consentry backup` and `consentry restore`: a deployment copied while it runs, and put back
(services/domain/backup.py; docs/operations.md, "Backup and restore")."""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli.common import DataDir, require_server, settings


def backup(destination: Path = typer.Argument(..., help="A new directory for the backup"),
           data_dir: Path | None = DataDir) -> None:
    """Back up the deployment, while it runs: its SQLite database at one instant, then its keys and
    record keys, with a manifest of their hashes (PostgreSQL: take its own backup first)."""
    require_server("backup")
    from consentry.services.domain import backup as job

    config = settings(data_dir)
    try:
        made = job.back_up(config, destination.resolve())
    except job.BackupError as exc:
        typer.echo(f"consentry backup: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"backed up {len(made.files)} files of {config.data_dir} to {destination}")
    if made.database == "sqlite":
        typer.echo(f"database: SQLite, ledger of {made.ledger_entries} entries "
                   f"(latest checkpoint: {made.checkpoint_size or 'none'})")
    else:
        typer.echo("database: PostgreSQL, not in this backup: restore it from the backup taken just before this "
                   "one (docs/operations.md)")


def restore(source: Path = typer.Argument(..., help="A directory `consentry backup` wrote"),
            data_dir: Path | None = DataDir) -> None:
    """Put a backup back as a new data directory (and SQLite database), every file checked against
    the backup's manifest first; then start `consentry serve` on it."""
    require_server("restore")
    from consentry.services.domain import backup as job

    config = settings(data_dir)
    try:
        restored, keyless = job.restore(config, source.resolve())
    except job.BackupError as exc:
        typer.echo(f"consentry restore: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"restored {len(restored.files)} files of the backup of {restored.created} to {config.data_dir}")
    if restored.database == "sqlite":
        typer.echo(f"database: SQLite, ledger of {restored.ledger_entries} entries; whatever was ledgered after "
                   "the backup is gone, and auditors who trusted a later checkpoint will see a rollback")
    if keyless:
        typer.echo(f"records without their key in this backup (erased after the database's backup, or deposited "
                   f"after this one): {', '.join(keyless)}; their holders are to erase them (`consentry org erase`), "
                   "then deposit again any still held")
