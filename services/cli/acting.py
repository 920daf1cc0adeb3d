"""Who a person's command acts as: a key file given by flag, and the principal it signs for.

`consentry org`, `patient`, `operator` and `token` sign every call with `--key FILE` (a
`consentry-key-v1 ed25519` file, docs/identity.md) as `--as org:ID` or `--as patient:ID`; an
institution's calls also name the practitioner acting and the role they act in. The operator's
key defaults to `operator.key` in the data directory. Calls go through the SDK's `Client`, which
signs a fresh token per call; what a refusal prints is decided once, in `main.py`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from consentry.services import config as cfg
from consentry.services.cli.common import settings
from consentry.services.cli.datadir import operator_key
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.paging import pages

KeyFile = typer.Option(..., "--key", dir_okay=False, help="The signer's identity key file (ed25519 key file)")
OperatorKeyFile = typer.Option(None, "--key", dir_okay=False,
                               help="The operator's key file [default: operator.key in --data-dir]")
Target = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server")
OrgAs = typer.Option(..., "--as", help="The institution signing: org:<its id>")
Role = typer.Option(..., "--role", help="The role the practitioner acts in")
ActingPractitioner = typer.Option(..., "--practitioner", help="The registered practitioner acting")


def institution(key: Path, principal: str, role: str, practitioner: str) -> Caller:
    if not principal.startswith("org:"):
        raise typer.BadParameter("--as must read org:<the institution's id>")
    return Caller(principal, keyfiles.load_signing_key(key), role=role, practitioner=practitioner)


def patient(key: Path, principal: str) -> Caller:
    if not principal.startswith("patient:"):
        raise typer.BadParameter("--as must read patient:<the patient's id>")
    return Caller(principal, keyfiles.load_signing_key(key))


def operator(key: Path | None, data_dir: Path | None) -> Caller:
    return Caller("operator", keyfiles.load_signing_key(key) if key else operator_key(settings(data_dir)))


def any_principal(key: Path | None, principal: str, role: str, practitioner: str, data_dir: Path | None) -> Caller:
    """The caller `--as` names: an institution, a patient, an auditor or the operator."""
    if principal == "operator":
        return operator(key, data_dir)
    if key is None:
        raise typer.BadParameter(f"--as {principal} needs --key")
    if principal.startswith("org:"):
        return institution(key, principal, role, practitioner)
    if not principal.startswith(("patient:", "auditor:")):
        raise typer.BadParameter("--as must read org:ID, patient:ID, auditor:ID or operator")
    return Caller(principal, keyfiles.load_signing_key(key))


def every(method: Callable[..., Any], make_request: Callable[[str], Any], field: str) -> Iterator[Any]:
    """Every item of a paged list call, page after page."""
    for page in pages(method, make_request):
        yield from getattr(page, field)


def public_key(text: str, flag: str) -> bytes:
    """A 32-byte public key given as base64, as `key new` prints it."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise typer.BadParameter(f"{flag} is not base64") from None
    if len(raw) != keyfiles.KEY_BYTES:
        raise typer.BadParameter(f"{flag} must be {keyfiles.KEY_BYTES} bytes, got {len(raw)}")
    return raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def new_identity_key(out: Path) -> str:
    """Creates an ed25519 key file (0600, never overwriting); returns its public key in base64."""
    return b64(bytes(keyfiles.generate_signing_key(out).verify_key))
