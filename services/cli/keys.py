"""`consentry keys`: the service's public keys for pinning (`show`); rotate, rewrap and retire the
key-encryption key (KEK).

`show` reads only key files. The KEK commands work on the database, so each checks for the
server install first.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consentry.services import config as cfg
from consentry.services.cli.common import DataDir, require_server, settings
from consentry.services.cli.datadir import ledger_signer, share_verify_key
from consentry.services.cli.share_key_rotation import revoke_share_signing, rotate_share_signing
from consentry.services.config import Settings
from consentry.services.crypto.key_chain import fingerprint
from consentry.services.crypto.key_provider import key_provider, pseudonym_secret, signer_key_id

if TYPE_CHECKING:
    from consentry.services.crypto.kek_rotation import DirectoryKekProvider
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database

app = typer.Typer(help="Service keys: show the public keys; rotate and retire the key-encryption key (KEK).",
                  no_args_is_help=True)

BatchSize = typer.Option(200, "--batch-size", min=1, help="Records rewrapped per write transaction")


@app.command("show")
def show(data_dir: Path | None = DataDir) -> None:
    """Print the service's public keys with their fingerprints, to hand to recipients and auditors
    out of band: they pin them instead of trusting the gRPC channel that serves them."""
    config = settings(data_dir)
    share = bytes(share_verify_key(config))
    ledger = ledger_signer(config).verifier
    typer.echo("share signing key (Ed25519; verifies share packages, docs/share-format.md)")
    typer.echo(f"  public key:   {base64.b64encode(share).decode()}")
    typer.echo(f"  fingerprint:  {fingerprint(share)}")
    typer.echo(f"  key id:       {signer_key_id(share)}  (rotated: keys rotate/revoke share-signing, docs/keys.md)")
    typer.echo("ledger checkpoint key (Ed25519 signed-note key; verifies checkpoints, docs/ledger.md)")
    typer.echo(f"  verifier key: {ledger.to_key()}")
    typer.echo(f"  fingerprint:  {fingerprint(ledger.public_key)}")


@app.command("rotate-kek")
def rotate_kek(data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Make a new KEK current (old one kept as kek-<id>.key) and rewrap every record's data key.

    Online: batches are small write transactions; a running server on the same data directory
    and database picks the new KEK up by itself. Resumable: if a previous run was interrupted, this
    finishes it (no new KEK is made while records still wait for the last one).
    """
    config, db, trail, kek = _key_job("keys rotate-kek", data_dir)
    from consentry.services.crypto.kek_rotation import NEXT_KEK_FILE, pending, promote_new_kek

    try:
        unfinished = pending(db, kek.key_id)
        if config.key_path(NEXT_KEK_FILE).exists() or not unfinished:
            promotion = promote_new_kek(kek.keys)
            typer.echo(f"new current KEK {promotion.new_kek}; {promotion.old_kek} kept as "
                       f"{config.data_dir / ('kek-' + promotion.old_kek + '.key')} until retired")
        else:
            typer.echo(f"finishing an unfinished rotation to {kek.key_id} "
                       f"({sum(unfinished.values())} record(s) still under {', '.join(sorted(unfinished))})")
        _rewrap(db, kek, trail, batch_size)
    finally:
        db.dispose()


# `consentry keys rotate <which>`: each service key's rotation, by the name an operator types.
ROTATIONS: dict[str, Callable[[Path | None, int], None]] = {
    "kek": lambda data_dir, batch_size: rotate_kek(data_dir, batch_size),
    "share-signing": lambda data_dir, _batch_size: rotate_share_signing(data_dir),
}
# `consentry keys revoke <which> KEY_ID`: the keys a compromise response revokes.
REVOCATIONS = ("share-signing",)


@app.command("rotate")
def rotate(which: str = typer.Argument(..., metavar="WHICH", help="The key: " + ", ".join(ROTATIONS)),
           data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Rotate one service key; every rotation is ledgered (docs/keys.md, "Rotation")."""
    if which not in ROTATIONS:
        raise typer.BadParameter(f"{which!r} is not a service key; one of: {', '.join(ROTATIONS)}",
                                 param_hint="WHICH")
    ROTATIONS[which](data_dir, batch_size)


@app.command("revoke")
def revoke(which: str = typer.Argument(..., metavar="WHICH", help="The key: " + ", ".join(REVOCATIONS)),
           key_id: str = typer.Argument(..., metavar="KEY_ID", help="16 hex digits (GetServiceKeys, keys show)"),
           revoked_from: str = typer.Option("", "--from", metavar="TIME",
                                            help="RFC 3339 UTC, e.g. 2026-11-30T12:00:00Z [default: now]"),
           data_dir: Path | None = DataDir) -> None:
    """After a compromise: what the key signed from TIME on is refused by recipients; the current
    key is rotated away first (docs/keys.md, "Compromise response")."""
    from consentry.services.clock import now_utc
    from consentry.services.crypto.key_chain import parse_instant

    if which not in REVOCATIONS:
        raise typer.BadParameter(f"{which!r} cannot be revoked; one of: {', '.join(REVOCATIONS)}",
                                 param_hint="WHICH")
    try:
        when = parse_instant(revoked_from) if revoked_from else now_utc()
    except ValueError as exc:
        raise typer.BadParameter(f"{revoked_from!r} is not an RFC 3339 UTC time like 2026-11-30T12:00:00Z",
                                 param_hint="--from") from exc
    revoke_share_signing(data_dir, key_id, when)


@app.command("rewrap")
def rewrap(data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Only the database job: move every record still under an older KEK to the current one."""
    _config, db, trail, kek = _key_job("keys rewrap", data_dir)
    try:
        _rewrap(db, kek, trail, batch_size)
    finally:
        db.dispose()


@app.command("status")
def status(data_dir: Path | None = DataDir) -> None:
    """The current KEK, the retired KEK files, and how many live records each KEK wraps."""
    config, db, _trail, kek = _key_job("keys status", data_dir)
    from consentry.services.crypto.kek_rotation import retired_kek_files, usage_by_kek

    try:
        usage = usage_by_kek(db)
        typer.echo(f"current  {kek.key_id}  {usage.get(kek.key_id, 0)} record(s)")
        for kid, path in retired_kek_files(kek.keys).items():
            typer.echo(f"retired  {kid}  {usage.get(kid, 0)} record(s)  {path}")
        for kid in sorted(set(usage) - {kek.key_id} - set(retired_kek_files(kek.keys))):
            typer.echo(f"MISSING  {kid}  {usage[kid]} record(s) use a KEK with no key file here", err=True)
    finally:
        db.dispose()


@app.command("retire-kek")
def retire_kek(data_dir: Path | None = DataDir,
               kek_id: list[str] | None = typer.Option(None, "--kek-id",
                                                       help="Retire only this KEK (repeatable)")) -> None:
    """Delete retired KEK files — only if no live record's data key is wrapped by them."""
    _config, db, trail, kek = _key_job("keys retire-kek", data_dir)
    from consentry.services.crypto.kek_rotation import KekInUse, retire_keks

    try:
        retired = retire_keks(kek.keys, db, trail, kek_id or None)
    except (KekInUse, ValueError, FileNotFoundError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(f"retired {', '.join(retired)}" if retired else "no retired KEK files to remove")


def _key_job(command: str, data_dir: Path | None) -> tuple[Settings, Database, AuditTrail, DirectoryKekProvider]:
    """What a KEK job needs: settings, the database, the ledger trail and the KEK files."""
    require_server(command)
    from consentry.services.crypto.kek_rotation import DirectoryKekProvider
    from consentry.services.store import schema
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database

    config = settings(data_dir)
    if not config.key_path(cfg.KEK_FILE).exists():
        raise typer.BadParameter(f"{config.data_dir} has no {cfg.KEK_FILE}; run `consentry init` first",
                                 param_hint="--data-dir")
    db = Database(config.database_url)
    schema.upgrade(db)
    keys = key_provider(config)
    trail = AuditTrail(pseudonym_secret(keys))
    return config, db, trail, DirectoryKekProvider(keys)


def _rewrap(db: Database, kek: DirectoryKekProvider, trail: AuditTrail, batch_size: int) -> None:
    from consentry.services.crypto import record_keys
    from consentry.services.crypto.kek_rotation import rewrap_all

    # As the server does: each record's wrapped key stays shielded under its own record key.
    vault = record_keys.RecordKeyVault(kek, kek.data_dir / record_keys.DIRECTORY)
    report = rewrap_all(db, vault, trail, batch_size=batch_size)
    typer.echo(f"rewrapped {report.rewrapped} record key(s) to {report.kek} in {report.batches} batch(es)")
    if not report.finished:
        typer.echo(f"{report.remaining} record(s) still use an older KEK; run the command again", err=True)
        raise typer.Exit(1)
    typer.echo("every live record now uses the current KEK; `consentry keys retire-kek` removes the old files")
