"""The `consentry` command."""

from __future__ import annotations

import logging
import signal
import tempfile
from pathlib import Path

import typer

from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.services.cli.bootstrap import build_app, init_data_dir, ledger_signer, operator_key
from consentry.services.config import Settings

app = typer.Typer(help="Consentry: consented, encrypted, audited sharing of patient records.",
                  no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="Work with the audit ledger.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(help="Service keys: rotate and retire the key-encryption key (KEK).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = typer.Option(None, "--data-dir", help="Database and keys [default: $CONSENTRY_HOME or ./consentry-data]")


def _settings(data_dir: Path | None) -> Settings:
    return Settings.load(data_dir)


@app.command()
def init(data_dir: Path | None = DataDir) -> None:
    """Create the data directory with the operator key and the service keys (0600)."""
    result = init_data_dir(_settings(data_dir))
    for name in result.created:
        typer.echo(f"created {result.data_dir / name}")
    if not result.created:
        typer.echo(f"{result.data_dir} already has every key; nothing changed")
    typer.echo(f"ledger verifier key: {result.ledger_verifier_key}")


@app.command()
def serve(listen: str = typer.Option(cfg.DEFAULT_LISTEN, help="HOST:PORT to listen on"),
          data_dir: Path | None = DataDir) -> None:
    """Run the gRPC server (creating the data directory on first use)."""

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(data_dir)
    init_data_dir(settings)
    server = _start(settings, listen)
    typer.echo(f"consentry serving on {listen.rsplit(':', 1)[0]}:{server.port} (data: {settings.data_dir})")
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


@app.command()
def demo(target: str | None = typer.Option(None, help="HOST:PORT of a running server; default: start one"),
         data_dir: Path | None = DataDir) -> None:
    """Play the post-discharge story over gRPC; exit non-zero if any step misbehaves."""

    if target is None:
        with tempfile.TemporaryDirectory(prefix="consentry-demo-") as tmp:
            settings = _settings(Path(tmp))
            init_data_dir(settings)
            server = _start(settings, "127.0.0.1:0")
            typer.echo(f"started a server on 127.0.0.1:{server.port} with a temporary data directory")
            try:
                failures = _story(f"127.0.0.1:{server.port}", settings)
            finally:
                server.stop()
    else:
        failures = _story(target, _settings(data_dir))
    raise typer.Exit(1 if failures else 0)


@audit_app.command("key")
def audit_key(data_dir: Path | None = DataDir) -> None:
    """Print the ledger's checkpoint verifier key (signed-note verifier key format)."""
    typer.echo(ledger_signer(_settings(data_dir)).verifier.to_key())


Target = typer.Option(None, "--target", help="HOST:PORT of a running server")
Identity = typer.Option(None, "--identity", help="Key file of an auditor (default: the operator key in --data-dir)")
Principal = typer.Option(None, "--principal", help="The identity's principal, e.g. auditor:ombudsman")


@audit_app.command("export")
def audit_export(out: Path = typer.Option(..., "--out", help="Directory to write checkpoint.note and entries.jsonl"),
                 target: str = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server"),
                 data_dir: Path | None = DataDir, identity: Path | None = Identity,
                 principal: str | None = Principal) -> None:
    """Export the latest checkpoint and every entry it covers (JSON Lines)."""
    from consentry.services.cli.audit_tool import export

    with _audit_client(target, data_dir, identity, principal) as client:
        size = export(client, out)
    typer.echo(f"exported {size} entries and their checkpoint to {out}")


@audit_app.command("verify")
def audit_verify(source: Path | None = typer.Argument(None, help="An export directory (or use --target)"),
                 key: str = typer.Option(..., "--key", help="The ledger verifier key (consentry audit key)"),
                 target: str | None = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
                 principal: str | None = Principal,
                 state: Path | None = typer.Option(None, "--state", help="Where the last trusted checkpoint is kept")) -> None:
    """Recompute chain and root, check the signature and consistency with the last trusted checkpoint."""
    from consentry.ledger.errors import LedgerError
    from consentry.services.cli import audit_tool

    if (source is None) == (target is None):
        raise typer.BadParameter("give an export directory or --target, not both")
    state = state or audit_tool.default_state_file(key)
    try:
        if source is not None:
            checkpoint = audit_tool.verify_export(source, key, state)
        else:
            with _audit_client(target, data_dir, identity, principal) as client:
                checkpoint = audit_tool.verify_live(client, key, state)
    except LedgerError as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"verified {checkpoint.size} entries of {checkpoint.origin}: chain, root, signature and "
               f"consistency with the last trusted checkpoint ({state})")


BatchSize = typer.Option(200, "--batch-size", min=1, help="Records rewrapped per write transaction")


def _key_job(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """What a KEK job needs: settings, the database, the ledger trail and the KEK files."""
    from consentry.services.store import schema
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database
    from consentry.services.crypto.kek_rotation import DirectoryKekProvider

    settings = _settings(data_dir)
    if not settings.key_path(cfg.KEK_FILE).exists():
        raise typer.BadParameter(f"{settings.data_dir} has no {cfg.KEK_FILE}; run `consentry init` first",
                                 param_hint="--data-dir")
    db = Database(settings.database_url)
    schema.upgrade(db)
    trail = AuditTrail(keyfiles.load_secret(settings.key_path(cfg.PSEUDONYM_KEY)))
    return settings, db, trail, DirectoryKekProvider(settings.data_dir)


def _rewrap(db, kek, trail, batch_size: int) -> None:  # type: ignore[no-untyped-def]
    from consentry.services.crypto.kek_rotation import rewrap_all

    report = rewrap_all(db, kek, trail, batch_size=batch_size)
    typer.echo(f"rewrapped {report.rewrapped} record key(s) to {report.kek} in {report.batches} batch(es)")
    if not report.finished:
        typer.echo(f"{report.remaining} record(s) still use an older KEK; run the command again", err=True)
        raise typer.Exit(1)
    typer.echo("every live record now uses the current KEK; `consentry keys retire-kek` removes the old files")


@keys_app.command("rotate-kek")
def keys_rotate_kek(data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Make a new KEK current (old one kept as kek-<id>.key) and rewrap every record's data key.

    Online: batches are small write transactions; a running server on the same data directory
    and database picks the new KEK up by itself. Resumable: if a previous run was interrupted, this
    finishes it (no new KEK is made while records still wait for the last one).
    """
    from consentry.services.crypto.kek_rotation import NEXT_KEK_FILE, pending, promote_new_kek

    settings, db, trail, kek = _key_job(data_dir)
    try:
        unfinished = pending(db, kek.key_id)
        if settings.key_path(NEXT_KEK_FILE).exists() or not unfinished:
            promotion = promote_new_kek(settings.data_dir)
            typer.echo(f"new current KEK {promotion.new_kek}; {promotion.old_kek} kept as "
                       f"{settings.data_dir / ('kek-' + promotion.old_kek + '.key')} until retired")
        else:
            typer.echo(f"finishing an unfinished rotation to {kek.key_id} "
                       f"({sum(unfinished.values())} record(s) still under {', '.join(sorted(unfinished))})")
        _rewrap(db, kek, trail, batch_size)
    finally:
        db.dispose()


@keys_app.command("rewrap")
def keys_rewrap(data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Only the database job: move every record still under an older KEK to the current one."""
    _settings_, db, trail, kek = _key_job(data_dir)
    try:
        _rewrap(db, kek, trail, batch_size)
    finally:
        db.dispose()


@keys_app.command("status")
def keys_status(data_dir: Path | None = DataDir) -> None:
    """The current KEK, the retired KEK files, and how many live records each KEK wraps."""
    from consentry.services.crypto.kek_rotation import retired_kek_files, usage_by_kek

    settings, db, _trail, kek = _key_job(data_dir)
    try:
        usage = usage_by_kek(db)
        typer.echo(f"current  {kek.key_id}  {usage.get(kek.key_id, 0)} record(s)")
        for kid, path in retired_kek_files(settings.data_dir).items():
            typer.echo(f"retired  {kid}  {usage.get(kid, 0)} record(s)  {path}")
        for kid in sorted(set(usage) - {kek.key_id} - set(retired_kek_files(settings.data_dir))):
            typer.echo(f"MISSING  {kid}  {usage[kid]} record(s) use a KEK with no key file here", err=True)
    finally:
        db.dispose()


@keys_app.command("retire-kek")
def keys_retire_kek(data_dir: Path | None = DataDir,
                    kek_id: list[str] | None = typer.Option(None, "--kek-id", help="Retire only this KEK (repeatable)")) -> None:
    """Delete retired KEK files — only if no live record's data key is wrapped by them."""
    from consentry.services.crypto.kek_rotation import KekInUse, retire_keks

    settings, db, trail, _kek = _key_job(data_dir)
    try:
        retired = retire_keks(settings.data_dir, db, trail, kek_id or None)
    except (KekInUse, ValueError, FileNotFoundError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(f"retired {', '.join(retired)}" if retired else "no retired KEK files to remove")


def _audit_client(target: str, data_dir: Path | None, identity: Path | None, principal: str | None):  # type: ignore[no-untyped-def]
    from consentry.services.sdk.client import Client
    from consentry.services.identity.tokens import Caller

    if identity is not None:
        if not principal:
            raise typer.BadParameter("--identity needs --principal")
        caller = Caller(principal, keyfiles.load_signing_key(identity))
    else:
        caller = Caller("operator", operator_key(_settings(data_dir)))
    return Client(target, caller, root_certificates=cfg.client_root_certificates())


def _start(settings: Settings, listen: str):  # type: ignore[no-untyped-def]
    from consentry.services.api.server import Server

    app_, signer = build_app(settings)
    return Server(app_, signer, listen).start()


def _story(target: str, settings: Settings) -> int:
    from consentry.services.cli.demo import run_story

    service_key = keyfiles.load_signing_key(settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
    return run_story(target, operator_key(settings), service_key, ledger_signer(settings).verifier.to_key())


if __name__ == "__main__":
    app()
