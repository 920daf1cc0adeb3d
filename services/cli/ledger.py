"""`consentry ledger`: jobs on the server's own ledger, run beside the server on its database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consentry.services import config as cfg
from consentry.services.cli.common import DataDir, require_server, settings
from consentry.services.crypto.key_provider import key_provider, pseudonym_secret

if TYPE_CHECKING:
    from consentry.services.config import Settings
    from consentry.services.crypto.key_provider import KeyProvider
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database

app = typer.Typer(help="Jobs on the server's ledger (needs consentry[server]).", no_args_is_help=True)


@app.command("retention")
def retention(
    data_dir: Path | None = DataDir,
    apply: bool = typer.Option(False, "--apply", help="redact what is due; without it, only count"),
    rules: Path | None = typer.Option(None, "--rules", dir_okay=False,
                                      help="retention rules [default: the shipped policy/data/retention.json]"),
) -> None:
    """Redacts (tombstones) ledger entries past their retention ceiling, never before their floor;
    each batch is ledgered as `ledger.redacted` with reason `retention` (docs/retention.md)."""
    db, trail = server_job("ledger retention", data_dir)
    from consentry.services import clock
    from consentry.services.domain import retention as job

    try:
        loaded = job.RetentionRules.load(rules) if rules else job.RetentionRules.load()
    except (OSError, ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--rules") from None
    try:
        result = job.sweep(db, trail, loaded, clock.now_ns(), apply=apply)
    finally:
        db.dispose()
    for kind, count in sorted(result.due.items()):
        typer.echo(f"{kind}: {count} entr{'y' if count == 1 else 'ies'} past the ceiling")
    if result.unredactable:
        typer.echo(f"{result.unredactable} entries past the ceiling are of format version 1 and stay")
    if apply:
        typer.echo(f"redacted {result.redacted} entries in {len(result.redaction_seqs)} ledger.redacted entr"
                   f"{'y' if len(result.redaction_seqs) == 1 else 'ies'}")
    else:
        typer.echo(f"{sum(result.due.values())} entries due; run with --apply to redact them")


@app.command("unlink-patient")
def unlink_patient(
    patient_id: str = typer.Argument(..., help="the patient whose ledger pseudonym key is destroyed"),
    data_dir: Path | None = DataDir,
) -> None:
    """Destroys the patient's own pseudonym key and their history index, for an erasure of the
    whole patient: every entry that names them keeps a pseudonym nothing can recompute, and no
    other patient is touched. Ledgered as `patient.unlinked`, which names no one (docs/erasure.md)."""
    db, trail = server_job("ledger unlink-patient", data_dir)
    from consentry.services.store import pseudonym_keys

    try:
        with db.write() as s:
            unlinked = pseudonym_keys.destroy(s, patient_id)
            if unlinked:
                seq = trail.append(s, "patient.unlinked", "operator")
    finally:
        db.dispose()
    if not unlinked:
        typer.echo(f"consentry ledger: no entry names {patient_id} under a key of their own; nothing to unlink",
                   err=True)
        raise typer.Exit(1)
    typer.echo(f"unlinked: the key is destroyed; ledgered as entry {seq}")


def server_job(command: str, data_dir: Path | None) -> tuple[Database, AuditTrail]:
    """The server's database (migrated) and its ledger trail, for a job run beside the server."""
    _config, db, trail, _keys = keyed_server_job(command, data_dir)
    return db, trail


def keyed_server_job(command: str, data_dir: Path | None, required: str = cfg.PSEUDONYM_KEY
                     ) -> tuple[Settings, Database, AuditTrail, KeyProvider]:
    """As `server_job`, with the settings and the key provider (the data directory checked to
    keep its keys where the configuration says); refused unless `required` was initialised."""
    require_server(command)
    from consentry.services.store import schema
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database

    config = settings(data_dir)
    if not config.key_path(required).exists():
        raise typer.BadParameter(f"{config.data_dir} has no {required}; run `consentry init` first",
                                 param_hint="--data-dir")
    keys = key_provider(config)
    keys.check()
    db = Database(config.database_url)
    schema.upgrade(db)
    return config, db, AuditTrail(pseudonym_secret(keys)), keys
