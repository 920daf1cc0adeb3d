"""`consentry org key new | rotate | revoke`: an institution makes its keys and replaces them.

`new` creates the identity (Ed25519) and encryption (X25519) key files and prints the public
keys the operator registers (`consentry operator register-institution`). `rotate` registers a
new key with the current identity key; the old identity key keeps authenticating only for the
grace (docs/identity.md, "Key lifecycle").
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey, connect
from consentry.services.crypto import keyfiles
from consentry.v1 import registry_pb2 as pb

app = typer.Typer(help="The institution's identity and encryption keys.", no_args_is_help=True)


@app.command("new")
def new(out: Path = typer.Option(..., "--out", dir_okay=False, help="The identity key file to create (0600)"),
        encryption_out: Path = typer.Option(..., "--encryption-out", dir_okay=False,
                                            help="The encryption key file to create (0600)")) -> None:
    """Create both key files and print their public keys (base64) to register."""
    typer.echo(f"identity public key:   {acting.new_identity_key(out)}")
    typer.echo(f"encryption public key: {acting.b64(bytes(keyfiles.generate_x25519_key(encryption_out).public_key))}")


def key_lines(institution: pb.Institution) -> list[str]:
    return [f"{k.key_id}\t{pb.KeyType.Name(k.type).removeprefix('KEY_TYPE_').lower()}\t"
            f"{pb.KeyStatus.Name(k.status).removeprefix('KEY_STATUS_').lower()}" for k in institution.keys]


@app.command("rotate")
def rotate(new_key: Path = typer.Option(..., "--new-key", dir_okay=False,
                                        help="The new key file (ed25519 for identity, x25519 for encryption)"),
           encryption: bool = typer.Option(False, "--encryption", help="Rotate the encryption key, not the identity"),
           key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
           practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Register a new key, signing with the current identity key (--key); prints the keys now held."""
    caller = acting.institution(key, as_, role, practitioner)
    if encryption:
        kind, public = pb.KEY_TYPE_ENCRYPTION, bytes(keyfiles.load_x25519_key(new_key).public_key)
    else:
        kind, public = pb.KEY_TYPE_IDENTITY, bytes(keyfiles.load_signing_key(new_key).verify_key)
    request = pb.RotateInstitutionKeyRequest(institution_id=as_.removeprefix("org:"), type=kind, public_key=public)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        got = client.registry.RotateInstitutionKey(request).institution
    for line in key_lines(got):
        typer.echo(line)


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key to revoke (ed25519:… as `rotate` lists it)"),
           reason: str = typer.Option(..., "--reason", help="Why, e.g. compromised"),
           key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
           practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Revoke a (compromised) key at once: no call under it, no share sealed to it; not the current
    identity key (rotate first)."""
    caller = acting.institution(key, as_, role, practitioner)
    request = pb.RevokeInstitutionKeyRequest(institution_id=as_.removeprefix("org:"), key_id=key_id, reason=reason)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        got = client.registry.RevokeInstitutionKey(request).institution
    for line in key_lines(got):
        typer.echo(line)
