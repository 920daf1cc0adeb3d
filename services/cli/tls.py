"""`consentry tls`: client certificates for a mutual-TLS server, bound to an identity key.

Two steps, by two parties (docs/transport.md):

    identity-cert  the holder of the client CA certifies a principal's registered identity key;
                   it needs only the public key
    client-cert    the principal signs a fresh TLS key's certificate with its identity key and
                   writes the chain (leaf, identity certificate) and the TLS key

Client commands: no server install needed. Files are created, never overwritten; the TLS key 0600.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from pathlib import Path
from typing import NoReturn

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from nacl.signing import SigningKey

from consentry.services.crypto import client_certs, keyfiles
from consentry.services.crypto.errors import KeyFileError
from consentry.services.identity.tokens import identity_key_id

app = typer.Typer(help="Client certificates for mutual TLS, bound to an identity key.", no_args_is_help=True)

Identity = typer.Option(None, "--identity", dir_okay=False, help="The principal's identity key file")
CaCert = typer.Option(..., "--ca-cert", dir_okay=False, help="The client CA's certificate (PEM)")
CaKey = typer.Option(..., "--ca-key", dir_okay=False, help="The client CA's private key (PEM, unencrypted)")
PublicKey = typer.Option(None, "--public-key",
                         help="The registered Ed25519 identity public key: base64 or hex of its 32 bytes")


@app.command("identity-cert")
def identity_cert(ca_cert: Path = CaCert, ca_key: Path = CaKey,
                  principal: str = typer.Option(..., "--principal", help="Whose key it is, e.g. org:riverside"),
                  public_key: str | None = PublicKey, identity: Path | None = Identity,
                  out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write it (PEM)"),
                  days: int = typer.Option(client_certs.IDENTITY_CERT_DAYS, "--days", min=1)) -> None:
    """Certify a registered identity key (the CA's step): it may then sign its own TLS certificates."""
    if (public_key is None) == (identity is None):
        _fail("give the identity key as --public-key or --identity, one of them")
    raw = _public_key(public_key) if public_key is not None else bytes(_signing_key(identity).verify_key)
    issuer, issuer_key = _load_ca(ca_cert, ca_key)
    cert = client_certs.identity_certificate(issuer, issuer_key, raw, principal, now=_now(), days=days)
    _create(out, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    typer.echo(f"wrote {out}: identity certificate of {principal} for key {identity_key_id(raw)}, "
               f"until {cert.not_valid_after_utc:%Y-%m-%d}")


@app.command("client-cert")
def client_cert(identity: Path = typer.Option(..., "--identity", dir_okay=False, help="The identity key file"),
                identity_cert_file: Path = typer.Option(..., "--identity-cert", dir_okay=False,
                                                        help="Its identity certificate, from the client CA (PEM)"),
                out_cert: Path = typer.Option(..., "--out-cert", dir_okay=False,
                                              help="Where to write the chain: leaf, then identity certificate"),
                out_key: Path = typer.Option(..., "--out-key", dir_okay=False, help="Where to write the TLS key"),
                days: int = typer.Option(client_certs.CLIENT_CERT_DAYS, "--days", min=1)) -> None:
    """Make a TLS key and its certificate, signed by the identity key (the principal's step)."""
    signing_key = _signing_key(identity)
    try:
        issuer = x509.load_pem_x509_certificate(_read(identity_cert_file))
        leaf, tls_key = client_certs.client_certificate(signing_key, issuer, now=_now(), days=days)
    except ValueError as exc:
        _fail(f"{identity_cert_file}: {exc}")
    _create(out_key, client_certs.private_key_pem(tls_key), 0o600)
    _create(out_cert, client_certs.chain_pem(leaf, issuer), 0o644)
    typer.echo(f"wrote {out_cert} and {out_key} (0600): a client certificate signed by "
               f"{identity_key_id(bytes(signing_key.verify_key))}, until {leaf.not_valid_after_utc:%Y-%m-%d}")


def _public_key(text: str) -> bytes:
    decoders = (bytes.fromhex, lambda t: base64.b64decode(t, validate=True),
                lambda t: base64.b64decode(t, altchars=b"-_", validate=True))
    for decode in decoders:
        try:
            raw = decode(text.strip())
        except (ValueError, binascii.Error):
            continue
        if len(raw) == keyfiles.KEY_BYTES:
            return raw
    _fail("--public-key must be the 32-byte Ed25519 public key, in base64 or hex")


def _signing_key(path: Path | None) -> SigningKey:
    assert path is not None
    try:
        return keyfiles.load_signing_key(path)
    except KeyFileError as exc:
        _fail(str(exc))


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    try:
        cert = x509.load_pem_x509_certificate(_read(cert_path))
        key = serialization.load_pem_private_key(_read(key_path), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        _fail(f"cannot load the client CA: {exc}")
    if cert.public_key() != key.public_key():
        _fail(f"{key_path} is not the private key of {cert_path}")
    return cert, key  # type: ignore[return-value]  # a CA key is one that can sign certificates


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")


def _create(path: Path, data: bytes, mode: int) -> None:
    """Writes a new file; an existing one is left alone (a certificate or key is never replaced)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as exc:
        _fail(f"cannot create {path}: {exc.strerror}")
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _fail(message: str) -> NoReturn:
    typer.echo(f"consentry tls: {message}", err=True)
    raise typer.Exit(1)
