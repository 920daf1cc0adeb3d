"""`consentry org request-access | requests | watch`: an institution asks a patient for access and
follows what it asked; the patient approves or declines (`consentry patient`)."""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting, privacy_notice, watch_lines
from consentry.services.cli.common import TlsClientCert, TlsClientKey, connect
from consentry.services.cli.consent_terms import Categories, Days, Excepted, Kind, Purposes, request_line, terms
from consentry.v1 import consent_pb2 as pb


def request_access(patient: str = typer.Option(..., "--patient", help="The patient's id"),
                   kind: str = Kind, category: list[str] = Categories, purpose: list[str] = Purposes,
                   days: int | None = Days, excepted: list[str] = Excepted,
                   reason: str = typer.Option(..., "--reason", help="Why, in words the patient reads"),
                   notice: str = privacy_notice.Notice, lang: str = privacy_notice.Lang,
                   key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
                   practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
                   tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Ask a patient for access on these terms under the institution's privacy notice (printed
    first, as the patient will see it); prints the request (its id first)."""
    request = pb.RequestAccessRequest(patient_id=patient, terms=terms(kind, category, purpose, days, excepted),
                                      reason=reason)
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        request.notice.CopyFrom(privacy_notice.shown(client, notice, lang))
        typer.echo(request_line(client.consent.RequestAccess(request).request))


def requests(patient: str = typer.Option("", "--patient", help="Only those to this patient"),
             key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
             practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
             tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List this institution's access requests and what became of them."""
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        for r in acting.every(client.consent.ListAccessRequests, lambda token: pb.ListAccessRequestsRequest(
                patient_id=patient, page_token=token), "requests"):
            typer.echo(request_line(r))


def watch(after: int = typer.Option(0, "--after", min=0, help="First the changes after this ledger seq"),
          key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
          practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Print each decision on this institution's access requests and each change to a consent it
    holds as it commits, until interrupted: seq, time, what (request-approved, request-declined,
    consent-granted, consent-narrowed, consent-revoked), patient, request, consent@version."""
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        watch_lines.follow(client.watch_consent_changes, watch_lines.change_line, after)
