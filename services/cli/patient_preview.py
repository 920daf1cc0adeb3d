"""`consentry patient preview`: what a grant with these terms would share with the institution,
and what would stay withheld and why, before granting (ConsentService.PreviewConsent).

Same flags as `patient grant` (no notice is shown: nothing is agreed to), plus `--role`; the
server decides with the real policy and discloses nothing but counts.
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey
from consentry.services.cli.consent_terms import Categories, Days, Excepted, Kind, Purposes, terms
from consentry.services.cli.patient import Acting, For, PatientAs
from consentry.v1 import consent_pb2 as pb


def group_line(outcome: str, g: pb.PreviewGroup) -> str:
    reasons = "\t" + "; ".join(g.reasons) if g.reasons else ""
    return f"{outcome}\t{g.record_count}\t{g.category}\t{g.holder}\t{g.purpose}{reasons}"


def preview(to: str = typer.Option(..., "--to", help="The grantee institution's id"),
            kind: str = Kind, category: list[str] = Categories, purpose: list[str] = Purposes,
            days: int | None = Days, excepted: list[str] = Excepted,
            role: str = typer.Option("", "--role", help="Decide as this staff role of the grantee "
                                                        "[default: per purpose, the role that reads the most]"),
            key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Preview a grant: per category, holder and purpose, how many records would be shared and how
    many withheld (with the policy's reasons). Nothing is granted or disclosed."""
    who = Acting(key, as_, for_)
    request = pb.PreviewConsentRequest(patient_id=who.patient_id, grantee=to, role=role,
                                       terms=terms(kind, category, purpose, days, excepted))
    with who.client(target, tls_client_cert, tls_client_key) as client:
        reply = client.consent.PreviewConsent(request)
    for g in reply.shared:
        typer.echo(group_line("shared", g))
    for g in reply.withheld:
        typer.echo(group_line("withheld", g))
    typer.echo(f"ledger #{reply.ledger_seq}")
