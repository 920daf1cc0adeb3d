"""`consentry keys`: the service's public keys for pinning (`show`); rotate, rewrap and retire the
key-encryption key (KEK), and rotate it after a compromise (`rotate kek-compromise`: every body
sealed again under a fresh data key, crypto/kek_compromise.py).

`show` reads only key files. The KEK commands work on the database, so each checks for the
server install first.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from consentry.services import config as cfg
from consentry.services.cli.common import DataDir, settings
from consentry.services.cli.datadir import ledger_signer, share_verify_key
from consentry.services.cli.share_key_rotation import revoke_share_signing, rotate_share_signing
from consentry.services.config import Settings
from consentry.services.crypto.key_chain import fingerprint
from consentry.services.crypto.key_provider import signer_key_id

if TYPE_CHECKING:
    from consentry.services.cli.ledger_key_rotation import LedgerKeyJob
    from consentry.services.crypto.kek_rotation import DirectoryKekProvider, RewrapReport
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database

app = typer.Typer(help="Service keys: show the public keys; rotate and retire the key-encryption key (KEK).",
                  no_args_is_help=True)

T = TypeVar("T")

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
        _move_fence(db, kek)
        _rewrap(db, kek, trail, batch_size)
    finally:
        db.dispose()


def rotate_kek_compromise(data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """After a compromise of the KEK: a new KEK, the fence moved to it, and every body, sealed text
    and note sealed again under a fresh data key (crypto/kek_compromise.py). Online, resumable."""
    _config, db, trail, kek = _key_job("keys rotate kek-compromise", data_dir)
    from consentry.services.crypto import record_keys
    from consentry.services.crypto.kek_compromise import rotate_after_compromise

    try:
        vault = record_keys.RecordKeyVault(kek, kek.data_dir / record_keys.DIRECTORY)
        done = rotate_after_compromise(kek.keys, db, vault, trail, batch_size=batch_size)
        if done.promotion is not None:
            typer.echo(f"new current KEK {done.promotion.new_kek}; the fence moved to it; "
                       f"{done.promotion.old_kek} kept as kek-{done.promotion.old_kek}.key until retired")
        else:
            typer.echo(f"resuming the compromise rotation to {done.report.kek}")
        _report(done.report, "re-sealed")
    finally:
        db.dispose()


# `consentry keys rotate <which>`: each service key's rotation, by the name an operator types.
ROTATIONS: dict[str, Callable[[Path | None, int], None]] = {
    "kek": lambda data_dir, batch_size: rotate_kek(data_dir, batch_size),
    "kek-compromise": lambda data_dir, batch_size: rotate_kek_compromise(data_dir, batch_size),
    "operator": lambda data_dir, _batch_size: _rotate_operator(data_dir),
    "root-kek": lambda data_dir, _batch_size: _rotate_root_kek(data_dir),
    "pseudonym": lambda _data_dir, _batch_size: _refuse_pseudonym(),
    "ledger": lambda data_dir, _batch_size: rotate_ledger(data_dir),
    "share-signing": lambda data_dir, _batch_size: rotate_share_signing(data_dir),
}
# `consentry keys revoke <which> KEY_ID`: the keys a compromise response revokes.
REVOCATIONS = ("ledger", "operator", "share-signing")


@app.command("rotate")
def rotate(which: str = typer.Argument(..., metavar="WHICH", help="The key: " + ", ".join(ROTATIONS)),
           data_dir: Path | None = DataDir, batch_size: int = BatchSize) -> None:
    """Rotate one service key; every rotation is ledgered (docs/keys.md, "Rotation")."""
    if which not in ROTATIONS:
        raise typer.BadParameter(f"{which!r} is not a service key; one of: {', '.join(ROTATIONS)}",
                                 param_hint="WHICH")
    ROTATIONS[which](data_dir, batch_size)


def _rotate_operator(data_dir: Path | None) -> None:
    """A new operator identity key, registered and ledgered; the old one authenticates calls
    already under way for the key grace (docs/identity.md), then nothing."""
    _config, db, trail, kek = _key_job("keys rotate operator", data_dir)
    from consentry.services.domain.operator_key import rotate_operator_key

    try:
        rotation = rotate_operator_key(db, trail, kek.keys)
    finally:
        db.dispose()
    typer.echo(f"new operator key {rotation.new_key_id} ({kek.keys.where(cfg.OPERATOR_KEY)})"
               + (f"; {rotation.old_key_id} retired" if rotation.old_key_id else ""))


def _revoke_operator(data_dir: Path | None, key_id: str) -> None:
    _config, db, trail, kek = _key_job("keys revoke operator", data_dir)
    from consentry.services.domain.operator_key import revoke_operator_key
    from consentry.services.errors import ConsentryError

    try:
        rotation = revoke_operator_key(db, trail, kek.keys, key_id)
    except ConsentryError as exc:
        typer.echo(f"consentry keys: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    if rotation is not None:
        typer.echo(f"new operator key {rotation.new_key_id} ({kek.keys.where(cfg.OPERATOR_KEY)})")
    typer.echo(f"operator key {key_id} revoked: it authenticates nothing from now on")


def _refuse_pseudonym() -> None:
    typer.echo("consentry keys: the pseudonym key is not rotated: the pseudonyms and ids derived from it must "
               "stay stable (docs/keys.md, \"The pseudonym key\"); under PKCS#11 `keys rotate root-kek` seals it "
               "again", err=True)
    raise typer.Exit(1)


def _rotate_root_kek(data_dir: Path | None) -> None:
    """PKCS#11 only: a new root KEK in the token seals the working secrets again; the old one is
    destroyed. The secrets, and so every record key they wrap, stay as they are."""
    _config, db, trail, kek = _key_job("keys rotate root-kek", data_dir)
    from consentry.services.crypto.key_provider import TokenKeys

    try:
        if not isinstance(kek.keys, TokenKeys):
            typer.echo("consentry keys: the files provider has no root KEK (its secrets are plain key files); "
                       "it exists with CONSENTRY_PKCS11_MODULE (docs/keys.md)", err=True)
            raise typer.Exit(1)
        with db.write() as s:  # ledgered first: if the rotation then fails, the entry says it was begun
            trail.append(s, "key.root_kek_rotation_started", "operator", token=kek.keys.token.label)
        resealed = kek.keys.rotate_root_kek()
        with db.write() as s:
            trail.append(s, "key.root_kek_rotated", "operator", token=kek.keys.token.label, files=resealed)
    finally:
        db.dispose()
    typer.echo(f"new root KEK in PKCS#11 token {kek.keys.token.label!r}; {resealed} sealed file(s) sealed again; "
               "the old root KEK is destroyed")


def rotate_ledger(data_dir: Path | None) -> None:
    """A new checkpoint key, handed over from the old one in the ledger (docs/ledger.md, "Key rotation")."""
    from consentry.services.cli.ledger_key_rotation import rotate

    with _ledger_key_job("keys rotate ledger", data_dir) as job:
        done = rotate(job)
    if done.finished_interrupted:
        typer.echo("finished an interrupted rotation")
    typer.echo(f"ledger checkpoint key rotated: entry {done.seq} ({'ledger.key_rotated'}) hands over")
    typer.echo(f"  from {done.old_key}")
    typer.echo(f"  to   {done.new_key}")
    typer.echo("checkpoints now carry both signatures; `consentry keys retire ledger` destroys the old key "
               "once a checkpoint covering the entry is signed by both")


@app.command("retire")
def retire(which: str = typer.Argument(..., metavar="WHICH", help="The key: ledger"),
           data_dir: Path | None = DataDir,
           key_id: str | None = typer.Option(None, "--key-id", help="Only this retired key")) -> None:
    """Destroy the retired ledger checkpoint keys whose handover is over (docs/ledger.md, "Key rotation")."""
    _ledger_only(which)
    from consentry.services.cli.ledger_key_rotation import retire as retire_keys

    with _ledger_key_job("keys retire ledger", data_dir) as job:
        done = _refusing(lambda: retire_keys(job, key_id))
    typer.echo("\n".join(f"destroyed retired ledger key {vkey}" for vkey in done) or "no retired ledger key kept")


@app.command("revoke")
def revoke(which: str = typer.Argument(..., metavar="WHICH", help="The key: " + ", ".join(REVOCATIONS)),
           key: str = typer.Argument(..., metavar="KEY_ID", help="share-signing: its 16 hex digits (keys show, "
                                     "GetServiceKeys); ledger: its key id (hex, as in checkpoint signatures) or "
                                     "its verifier key"),
           since: str = typer.Option("", "--from", metavar="TIME",
                                     help="RFC 3339 UTC, e.g. 2026-11-30T12:00:00Z, from which what the key signed "
                                          "is not trusted [default: now]"),
           data_dir: Path | None = DataDir) -> None:
    """After a compromise: what the key signed from TIME on is no longer trusted (docs/keys.md,
    "Compromise response"; for the ledger key docs/ledger.md, "Revoking a key")."""
    from consentry.services.clock import now_utc
    from consentry.services.crypto.key_chain import parse_instant

    if which not in REVOCATIONS:
        raise typer.BadParameter(f"{which!r} cannot be revoked; one of: {', '.join(REVOCATIONS)}",
                                 param_hint="WHICH")
    try:
        when = parse_instant(since) if since else now_utc()
    except ValueError as exc:
        raise typer.BadParameter(f"{since!r} is not an RFC 3339 UTC time like 2026-11-30T12:00:00Z",
                                 param_hint="--from") from exc
    if which == "share-signing":
        revoke_share_signing(data_dir, key, when)
        return
    if which == "operator":
        if since:
            raise typer.BadParameter("the operator key is revoked from now: a call token lives at most five "
                                     "minutes, so no earlier time needs refusing", param_hint="--from")
        _revoke_operator(data_dir, key)
        return
    from consentry.services.cli.ledger_key_rotation import revoke as revoke_key

    at = since or when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with _ledger_key_job("keys revoke ledger", data_dir) as job:
        seq, vkey = _refusing(lambda: revoke_key(job, key, at))
    typer.echo(f"ledger entry {seq} (ledger.key_revoked) revokes {vkey} from {at}")


def _ledger_only(which: str) -> None:
    if which != "ledger":
        raise typer.BadParameter(f"{which!r}: only the ledger checkpoint key is retired here "
                                 "(the KEK: retire-kek)", param_hint="WHICH")


def _refusing(action: Callable[[], T]) -> T:
    from consentry.services.cli.ledger_key_rotation import Refused

    try:
        return action()
    except Refused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc


@contextlib.contextmanager
def _ledger_key_job(command: str, data_dir: Path | None) -> Iterator[LedgerKeyJob]:
    from consentry.services.cli.ledger import keyed_server_job

    config, db, _trail, _keys = keyed_server_job(command, data_dir)  # the server install first
    from consentry.services.cli.ledger_key_rotation import LedgerKeyJob

    try:
        yield LedgerKeyJob(config, db)
    finally:
        db.dispose()


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
                                                       help="Retire only this KEK (repeatable)"),
               grace_hours: float = typer.Option(24.0, "--grace", min=0,
                                                 help="Hours after the last rotation before old KEKs go")) -> None:
    """Shred retired KEK files — only if no live record's data key is wrapped by them, and the
    grace period since the last rotation has run."""
    _config, db, trail, kek = _key_job("keys retire-kek", data_dir)
    from consentry.services.crypto.kek_rotation import KekInUse, retire_keks

    try:
        retired = retire_keks(kek.keys, db, trail, kek_id or None, grace_ns=int(grace_hours * 3600e9))
    except (KekInUse, ValueError, FileNotFoundError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    typer.echo(f"retired {', '.join(retired)}" if retired else "no retired KEK files to remove")


def _key_job(command: str, data_dir: Path | None) -> tuple[Settings, Database, AuditTrail, DirectoryKekProvider]:
    """What a KEK job needs: settings, the database, the ledger trail and the KEK files."""
    from consentry.services.cli.ledger import keyed_server_job

    config, db, trail, keys = keyed_server_job(command, data_dir, required=cfg.KEK_FILE)  # the server install first
    from consentry.services.crypto.kek_rotation import DirectoryKekProvider

    return config, db, trail, DirectoryKekProvider(keys)


def _move_fence(db: Database, kek: DirectoryKekProvider) -> None:
    """Only the new KEK may wrap from now on (crypto/kek_fence.py)."""
    from consentry.services.crypto import kek_fence

    with db.write() as s:
        kek_fence.move(s, kek.key_id)


def _rewrap(db: Database, kek: DirectoryKekProvider, trail: AuditTrail, batch_size: int) -> None:
    from consentry.services.crypto import record_keys
    from consentry.services.crypto.kek_compromise import in_progress
    from consentry.services.crypto.kek_rotation import rewrap_all

    # As the server does: each record's wrapped key stays shielded under its own record key.
    vault = record_keys.RecordKeyVault(kek, kek.data_dir / record_keys.DIRECTORY)
    compromise = in_progress(db) is not None  # an unfinished compromise rotation re-seals, never rewraps
    report = rewrap_all(db, vault, trail, batch_size=batch_size, reseal=compromise)
    _report(report, "re-sealed" if compromise else "rewrapped")


def _report(report: RewrapReport, verb: str) -> None:
    typer.echo(f"{verb} {report.rewrapped} record key(s) to {report.kek} in {report.batches} batch(es)")
    if not report.finished:
        typer.echo(f"{report.remaining} record(s) still use an older KEK; run the command again", err=True)
        raise typer.Exit(1)
    typer.echo("every live record now uses the current KEK; `consentry keys retire-kek` removes the old files")
