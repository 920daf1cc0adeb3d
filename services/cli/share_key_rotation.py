"""`consentry keys rotate share-signing` and `consentry keys revoke share-signing KEY_ID`.

A rotation, in three steps each safe to repeat (docs/keys.md, "Rotation"):

1. stage the next key in the provider (a key file `service-signing.next.key`, or a token label
   `consentry-share-signing.next`); staging again returns the same key;
2. in one write transaction: the rotation statement signed by the current key and by the staged
   one, the table rows (old retired, new current) and the ledger entry `key.service_key_rotated`;
3. promote the staged key in the provider. Running servers sign with it within about a second.

A crash after 1 or 2 leaves the staged key; the next run sees it and finishes the same rotation
(step 2 is skipped when the record already names it current), so a re-run never rotates twice.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consentry.services import config as cfg

if TYPE_CHECKING:
    from consentry.services.crypto.key_provider import KeyProvider
    from consentry.services.store.audit_trail import AuditTrail
    from consentry.services.store.db import Database


def rotate_share_signing(data_dir: Path | None) -> None:
    """Rotates the share-signing key, or finishes an interrupted rotation; returns the new key id."""
    from consentry.services.crypto.key_chain import SHARE_SIGNING
    from consentry.services.crypto.key_provider import signer_key_id
    from consentry.services.domain import service_keys

    db, trail, keys = _job("keys rotate share-signing", data_dir)
    try:
        if service_keys.current_key_id(db, SHARE_SIGNING) is None:  # a server never started on this schema
            service_keys.register_current(db, SHARE_SIGNING, bytes(keys.signer(cfg.SHARE_SIGNING_KEY).verify_key))
        staged = keys.stage_signer(cfg.SHARE_SIGNING_KEY)
        new_id = signer_key_id(bytes(staged.verify_key))
        if service_keys.current_key_id(db, SHARE_SIGNING) == new_id:
            typer.echo(f"finishing the interrupted rotation to share-signing key {new_id}")
        else:
            with db.write() as s:
                service_keys.record_rotation(s, trail, SHARE_SIGNING, keys.signer(cfg.SHARE_SIGNING_KEY), staged)
        promotion = keys.promote_signer(cfg.SHARE_SIGNING_KEY)
    finally:
        db.dispose()
    old = f"; {signer_key_id(promotion.old)} retired (still valid for what it signed)" if promotion.old else ""
    typer.echo(f"share-signing key {new_id} is current{old}; running servers sign with it within a second")


def revoke_share_signing(data_dir: Path | None, key_id: str, revoked_from: datetime) -> None:
    """Marks a share-signing key revoked from `revoked_from` (ledgered); the current key is
    rotated away first, so a revoked key never signs."""
    from consentry.services.crypto.key_chain import SHARE_SIGNING
    from consentry.services.domain import service_keys

    db, _trail, _keys = _job("keys revoke share-signing", data_dir)
    try:
        current = service_keys.current_key_id(db, SHARE_SIGNING)
    finally:
        db.dispose()
    if key_id == current:
        typer.echo(f"{key_id} is the current share-signing key: rotating it away first")
        rotate_share_signing(data_dir)
    from consentry.services.errors import ConsentryError

    db, trail, _keys = _job("keys revoke share-signing", data_dir)
    try:
        with db.write() as s:
            row = service_keys.revoke(s, trail, SHARE_SIGNING, key_id, _ns(revoked_from))
            when = row.revoked_from_ns
    except ConsentryError as exc:
        typer.echo(f"refused: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    from consentry.services.clock import rfc3339

    typer.echo(f"share-signing key {key_id} revoked from {rfc3339(when or 0)}; recipients refuse what it "
               "signed from then on (GetServiceKeys and the ledger entry key.service_key_revoked say so)")


def _job(command: str, data_dir: Path | None) -> tuple[Database, AuditTrail, KeyProvider]:
    from consentry.services.cli.ledger import keyed_server_job

    _config, db, trail, keys = keyed_server_job(command, data_dir)
    return db, trail, keys


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
