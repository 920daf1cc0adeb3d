"""`consentry org`: an institution's practitioners and the roles they hold there.

An institution's call tokens are accepted only for a practitioner registered with it, acting in
one of the roles registered for them (docs/policy.md lists the roles each institution kind can
have). The operator registers an institution's first practitioners; after that the institution
can manage its own, with its key and a registered staff member acting.

Client commands: they talk to a running server, so `pip install consentry` is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import grpc
import typer

from consentry.services import config as cfg
from consentry.services.cli.acting import every
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect, settings
from consentry.services.cli.datadir import operator_key
from consentry.services.crypto import keyfiles
from consentry.services.crypto.errors import KeyFileError
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2 as pb

app = typer.Typer(help="Institutions: their practitioners and the roles they hold.", no_args_is_help=True)
practitioners = typer.Typer(help="Register, remove and list an institution's practitioners.", no_args_is_help=True)
app.add_typer(practitioners, name="practitioners")

Institution = typer.Option(..., "--institution", help="The institution's id")
Target = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server")
Identity = typer.Option(None, "--identity",
                        help="Key file of the institution (default: the operator key in --data-dir)")
Principal = typer.Option(None, "--principal", help="The identity's principal: org:<the institution's id>")
ActingPractitioner = typer.Option(None, "--acting-practitioner",
                                  help="With --principal org:ID: the registered practitioner making the change")
ActingRole = typer.Option(None, "--acting-role", help="With --principal org:ID: the role they act in")

R = TypeVar("R")
T = TypeVar("T")


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
        got = _call(client.registry.RegisterPractitioner, request).practitioner
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
        got = _call(client.registry.RemovePractitioner, request).practitioner
    typer.echo(f"removed {got.practitioner_id} from {got.institution_id}")


@practitioners.command("list")
def list_(institution: str = Institution, target: str = Target, data_dir: Path | None = DataDir,
          identity: Path | None = Identity, principal: str | None = Principal,
          acting_practitioner: str | None = ActingPractitioner, acting_role: str | None = ActingRole,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List the institution's registered practitioners and their roles."""
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role,
                 tls_client_cert, tls_client_key) as client:
        for p in every(lambda r: _call(client.registry.ListPractitioners, r), lambda token: pb.ListPractitionersRequest(
                institution_id=institution, page_token=token), "practitioners"):
            typer.echo(f"{p.practitioner_id}\t{', '.join(p.roles)}")


@contextmanager
def _client(target: str, data_dir: Path | None, identity: Path | None, principal: str | None,
            acting_practitioner: str | None, acting_role: str | None, tls_client_cert: Path | None,
            tls_client_key: Path | None) -> Iterator[Client]:
    try:
        caller = _caller(data_dir, identity, principal, acting_practitioner, acting_role)
    except KeyFileError as exc:
        _fail(str(exc))
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        yield client


def _caller(data_dir: Path | None, identity: Path | None, principal: str | None, acting_practitioner: str | None,
            acting_role: str | None) -> Caller:
    if identity is None:
        if principal or acting_practitioner or acting_role:
            _fail("--principal, --acting-practitioner and --acting-role go with --identity")
        return Caller("operator", operator_key(settings(data_dir)))
    if not principal or not principal.startswith("org:"):
        _fail("--identity needs --principal org:<the institution's id>")
    if not (acting_practitioner and acting_role):
        _fail("an institution acts through a registered practitioner: give --acting-practitioner and --acting-role")
    return Caller(principal, keyfiles.load_signing_key(identity), role=acting_role, practitioner=acting_practitioner)


def _call(method: Callable[[R], T], request: R) -> T:
    """One call; a refusal ends the command with its status and message on one line."""
    try:
        return method(request)
    except grpc.RpcError as exc:
        _fail(f"{exc.code().name}: {exc.details()}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"consentry org: {message}", err=True)
    raise typer.Exit(1)
