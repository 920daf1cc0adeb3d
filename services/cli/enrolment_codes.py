"""Enrolment codes from the command line (docs/identity.md, "Enrolment codes"):
`consentry operator enrolment-code PATIENT_ID` prints a one-time code for a new patient or one
who lost their device; `consentry patient redeem CODE --key FILE` registers the key in FILE with
it (the device's first call: it carries no token)."""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk import enrolment
from consentry.v1 import registry_pb2 as pb

PatientId = typer.Argument(..., help="The patient's id (new, or enrolled and lost their device)")


def enrolment_code(patient_id: str = PatientId,
                   identifier: list[str] = typer.Option([], "--identifier",
                                                        help="A new patient's identifier, SYSTEM|VALUE (repeat)"),
                   target: str = acting.Target, key: Path | None = acting.OperatorKeyFile,
                   data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                   tls_client_key: Path | None = TlsClientKey) -> None:
    """Print a one-time enrolment code (and, on the next line, when it expires)."""
    identifiers = []
    for i, given in enumerate(identifier):
        system, bar, value = given.partition("|")
        if not bar:
            raise typer.BadParameter(f"--identifier #{i + 1} must read SYSTEM|VALUE")
        identifiers.append(pb.PatientIdentifier(system=system, value=value))
    request = pb.CreateEnrolmentCodeRequest(patient_id=patient_id, identifiers=identifiers)
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        got = client.registry.CreateEnrolmentCode(request)
    typer.echo(got.code)
    typer.echo(f"expires {got.expire_time.ToDatetime().isoformat(timespec='seconds')}Z")


def redeem(code: str = typer.Argument(..., help="The enrolment code, e.g. 7K2M-Q9XD-4TFA"),
           key: Path = typer.Option(..., "--key", dir_okay=False,
                                    help="The new identity key file (`consentry patient key new`)"),
           target: str = acting.Target, tls_client_cert: Path | None = TlsClientCert,
           tls_client_key: Path | None = TlsClientKey) -> None:
    """Register the key in FILE as the patient's identity key with a one-time code."""
    signing = keyfiles.load_signing_key(key)
    try:
        request = enrolment.redeem_request(code, signing)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    # The server reads no token on this call; the client sends one like any other.
    with connect(target, Caller("patient:enrolling", signing), tls_client_cert, tls_client_key) as client:
        got = client.registry.RedeemEnrolmentCode(request)
    typer.echo(f"enrolled patient:{got.patient_id} with key {got.key_id}")
