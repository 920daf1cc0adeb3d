"""`consentry operator`: the operator registers institutions, enrols patients and auditors, and
registers an institution's first practitioners.

The operator signs with `operator.key` from the data directory, or `--key FILE`. Public keys are
given as the base64 that `consentry org key new` and `consentry patient key new` print.
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect
from consentry.v1 import registry_pb2 as pb

app = typer.Typer(help="The operator: register institutions, enrol patients and auditors, register practitioners.",
                  no_args_is_help=True)

KINDS = {name.removeprefix("INSTITUTION_KIND_").lower().replace("_", "-"): name
         for name, value in pb.InstitutionKind.items() if value}
IdentityPublicKey = typer.Option(..., "--identity-public-key", help="Base64 of the Ed25519 public key")


@app.command("register-institution")
def register_institution(
        institution: str = typer.Option(..., "--id", help="The institution's id"),
        name: str = typer.Option(..., "--name", help="Its display name"),
        kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(KINDS)}"),
        identity_public_key: str = IdentityPublicKey,
        encryption_public_key: str = typer.Option(..., "--encryption-public-key",
                                                  help="Base64 of the X25519 public key shares are sealed to"),
        target: str = acting.Target, key: Path | None = acting.OperatorKeyFile, data_dir: Path | None = DataDir,
        tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Register an institution with the keys it generated (`consentry org key new`)."""
    if kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
    request = pb.RegisterInstitutionRequest(
        institution_id=institution, display_name=name, kind=KINDS[kind],
        identity_public_key=acting.public_key(identity_public_key, "--identity-public-key"),
        encryption_public_key=acting.public_key(encryption_public_key, "--encryption-public-key"))
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        got = client.registry.RegisterInstitution(request).institution
    typer.echo(f"registered org:{got.institution_id} ({kind}) with keys {', '.join(k.key_id for k in got.keys)}")


@app.command("enrol-patient")
def enrol_patient(patient: str = typer.Option(..., "--id", help="The patient's id"),
                  identity_public_key: str = IdentityPublicKey,
                  target: str = acting.Target, key: Path | None = acting.OperatorKeyFile,
                  data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                  tls_client_key: Path | None = TlsClientKey) -> None:
    """Enrol a patient (or a proxy, who is a patient too) with the key `consentry patient key new` made."""
    request = pb.EnrollPatientRequest(patient_id=patient, identity_public_key=acting.public_key(
        identity_public_key, "--identity-public-key"))
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        got = client.registry.EnrollPatient(request)
    typer.echo(f"enrolled patient:{got.patient_id} with key {got.key_id}")


@app.command("enrol-auditor")
def enrol_auditor(auditor: str = typer.Option(..., "--id", help="The auditor's id"),
                  identity_public_key: str = IdentityPublicKey,
                  target: str = acting.Target, key: Path | None = acting.OperatorKeyFile,
                  data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                  tls_client_key: Path | None = TlsClientKey) -> None:
    """Enrol an auditor with an Ed25519 public key (any identity key file will do, e.g. one
    `consentry patient key new` made)."""
    request = pb.EnrollAuditorRequest(auditor_id=auditor, identity_public_key=acting.public_key(
        identity_public_key, "--identity-public-key"))
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        got = client.registry.EnrollAuditor(request)
    typer.echo(f"enrolled auditor:{got.auditor_id} with key {got.key_id}")


@app.command("register-practitioner")
def register_practitioner(institution: str = typer.Option(..., "--institution", help="The institution's id"),
                          practitioner: str = typer.Option(..., "--practitioner", help="The practitioner's id"),
                          role: list[str] = typer.Option(..., "--role", help="A role they hold (repeat for several)"),
                          target: str = acting.Target, key: Path | None = acting.OperatorKeyFile,
                          data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                          tls_client_key: Path | None = TlsClientKey) -> None:
    """Register a practitioner with their roles (replacing any they held); the institution can
    then manage its own (`consentry org practitioners`)."""
    request = pb.RegisterPractitionerRequest(institution_id=institution, practitioner_id=practitioner, roles=role)
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        got = client.registry.RegisterPractitioner(request).practitioner
    typer.echo(f"registered {got.practitioner_id} at {got.institution_id}: {', '.join(got.roles)}")


@app.command("institutions")
def institutions(target: str = acting.Target, key: Path | None = acting.OperatorKeyFile,
                 data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                 tls_client_key: Path | None = TlsClientKey) -> None:
    """List the registered institutions: id, kind, display name."""
    with connect(target, acting.operator(key, data_dir), tls_client_cert, tls_client_key) as client:
        for i in acting.every(client.registry.ListInstitutions, lambda token: pb.ListInstitutionsRequest(
                page_token=token), "institutions"):
            kind = pb.InstitutionKind.Name(i.kind).removeprefix("INSTITUTION_KIND_").lower().replace("_", "-")
            typer.echo(f"{i.institution_id}\t{kind}\t{i.display_name}")
