"""`consentry org practitioners`: an institution's practitioners and the roles they hold there
(the group's other commands: org_keys.py, org_records.py, org_requests.py).

An institution's call tokens are accepted only for a practitioner registered with it, acting in
one of the roles registered for them (docs/policy.md lists the roles each institution kind can
have). The operator registers an institution's first practitioners; after that the institution
can manage its own, with its key and a registered staff member acting.

Client commands: they talk to a running server, so `pip install consentry` is enough. A refusal
by the server or of a key file is printed as one line by `main.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2 as pb

app = typer.Typer(help="Institutions: keys, records in and out, access requests, practitioners.",
                  no_args_is_help=True)
practitioners = typer.Typer(help="Register, remove and list an institution's practitioners.", no_args_is_help=True)
app.add_typer(practitioners, name="practitioners")

Institution = typer.Option(..., "--institution", help="The institution's id")
Target = acting.Target
Identity = typer.Option(None, "--identity",
                        help="Key file of the institution (default: the operator key in --data-dir)")
Principal = typer.Option(None, "--principal", help="The identity's principal: org:<the institution's id>")
ActingPractitioner = typer.Option(None, "--acting-practitioner",
                                  help="With --principal org:ID: the registered practitioner making the change")
ActingRole = typer.Option(None, "--acting-role", help="With --principal org:ID: the role they act in")


@practitioners.command("add")
def add(institution: str = Institution,
        practitioner: str = typer.Option(..., "--practitioner", help="The practitioner's id"),
        role: list[str] = typer.Option(..., "--role", help="A role they hold (repeat for several)"),
        target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
        principal: str | None = Principal, acting_practitioner: str | None = ActingPractitioner,
        acting_role: str | None = ActingRole, tls_client_cert: Path | None = TlsClientCert,
        tls_client_key: Path | None = TlsClientKey) -> None:
    """Register a practitioner with their roles (replacing any they held)."""
    request = pb.RegisterPractitionerRequest(institution_id=institution, practitioner_id=practitioner, roles=role)
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role,
                 tls_client_cert, tls_client_key) as client:
        got = client.registry.RegisterPractitioner(request).practitioner
    typer.echo(f"registered {got.practitioner_id} at {got.institution_id}: {', '.join(got.roles)}")


@practitioners.command("remove")
def remove(institution: str = Institution,
           practitioner: str = typer.Option(..., "--practitioner", help="The practitioner's id"),
           target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
           principal: str | None = Principal, acting_practitioner: str | None = ActingPractitioner,
           acting_role: str | None = ActingRole, tls_client_cert: Path | None = TlsClientCert,
           tls_client_key: Path | None = TlsClientKey) -> None:
    """Remove a practitioner: their tokens are refused from the next call."""
    request = pb.RemovePractitionerRequest(institution_id=institution, practitioner_id=practitioner)
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role,
                 tls_client_cert, tls_client_key) as client:
        got = client.registry.RemovePractitioner(request).practitioner
    typer.echo(f"removed {got.practitioner_id} from {got.institution_id}")


@practitioners.command("list")
def list_(institution: str = Institution, target: str = Target, data_dir: Path | None = DataDir,
          identity: Path | None = Identity, principal: str | None = Principal,
          acting_practitioner: str | None = ActingPractitioner, acting_role: str | None = ActingRole,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List the institution's registered practitioners and their roles."""
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role,
                 tls_client_cert, tls_client_key) as client:
        for p in acting.every(client.registry.ListPractitioners, lambda token: pb.ListPractitionersRequest(
                institution_id=institution, page_token=token), "practitioners"):
            typer.echo(f"{p.practitioner_id}\t{', '.join(p.roles)}")


@contextmanager
def _client(target: str, data_dir: Path | None, identity: Path | None, principal: str | None,
            acting_practitioner: str | None, acting_role: str | None, tls_client_cert: Path | None,
            tls_client_key: Path | None) -> Iterator[Client]:
    caller = _caller(data_dir, identity, principal, acting_practitioner, acting_role)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        yield client


def _caller(data_dir: Path | None, identity: Path | None, principal: str | None, acting_practitioner: str | None,
            acting_role: str | None) -> Caller:
    if identity is None:
        if principal or acting_practitioner or acting_role:
            _fail("--principal, --acting-practitioner and --acting-role go with --identity")
        return acting.operator(None, data_dir)
    if not principal or not principal.startswith("org:"):
        _fail("--identity needs --principal org:<the institution's id>")
    if not (acting_practitioner and acting_role):
        _fail("an institution acts through a registered practitioner: give --acting-practitioner and --acting-role")
    return acting.institution(identity, principal, acting_role, acting_practitioner)


def _fail(message: str) -> NoReturn:
    typer.echo(f"consentry org: {message}", err=True)
    raise typer.Exit(1)
