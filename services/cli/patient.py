"""`consentry patient`: a patient, or a proxy acting for one, manages consent and reads who used
their records.

Every command signs with the patient's key file (`--key FILE --as patient:ID`); a proxy signs
with their own and names the patient with `--for PATIENT` (the server checks the proxy's scope).
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting, privacy_notice, watch_lines
from consentry.services.cli.common import TlsClientCert, TlsClientKey, connect
from consentry.services.cli.consent_terms import (
    Categories,
    Days,
    Excepted,
    Kind,
    Purposes,
    consent_line,
    consent_terms,
    narrowed,
    request_line,
    terms,
)
from consentry.services.cli.org_records import record_line
from consentry.services.cli.receipt import ReceiptOut, ServiceKey, change
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2 as pb
from consentry.v1 import exchange_pb2

app = typer.Typer(help="Patients and their proxies: consents, access requests, access history.",
                  no_args_is_help=True)
key_app = typer.Typer(help="The patient's identity key.", no_args_is_help=True)
app.add_typer(key_app, name="key")

PatientAs = typer.Option(..., "--as", help="Who signs: patient:<id> (the patient, or a proxy with --for)")
For = typer.Option(None, "--for", help="A proxy: the patient acted for [default: the signer]")
STATUSES = {name.removeprefix("ACCESS_REQUEST_STATUS_").lower(): name
            for name, value in pb.AccessRequestStatus.items() if value}


class Acting:
    """The signer, and the patient the command is about."""

    def __init__(self, key: Path, principal: str, for_patient: str | None) -> None:
        self.caller: Caller = acting.patient(key, principal)
        self.patient_id = for_patient or principal.removeprefix("patient:")

    def client(self, target: str, tls_client_cert: Path | None, tls_client_key: Path | None) -> Client:
        return connect(target, self.caller, tls_client_cert, tls_client_key)


@key_app.command("new")
def key_new(out: Path = typer.Option(..., "--out", dir_okay=False, help="The key file to create (0600)")) -> None:
    """Create an identity key file and print the public key the operator enrols."""
    typer.echo(acting.new_identity_key(out))


@app.command()
def grant(to: str = typer.Option(..., "--to", help="The grantee institution's id"),
          kind: str = Kind, category: list[str] = Categories, purpose: list[str] = Purposes,
          days: int | None = Days, excepted: list[str] = Excepted,
          notice: str = privacy_notice.Notice, lang: str = privacy_notice.Lang,
          service_key: str | None = ServiceKey, receipt_out: Path | None = ReceiptOut,
          key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Grant an institution access to categories of records for purposes, under the privacy notice
    the patient is shown first (the grantee's; --days where the consent must end)."""
    who = Acting(key, as_, for_)
    request = pb.GrantConsentRequest(patient_id=who.patient_id, grantee=to,
                                     terms=terms(kind, category, purpose, days, excepted))
    with who.client(target, tls_client_cert, tls_client_key) as client:
        request.notice.CopyFrom(privacy_notice.shown(client, notice, lang))
        typer.echo(consent_line(change(client, "GrantConsent", request, service_key, receipt_out).consent))


@app.command()
def narrow(consent_id: str = typer.Argument(..., help="The consent to narrow"),
           category: list[str] = typer.Option([], "--category", help="Only these categories [default: as now]"),
           purpose: list[str] = typer.Option([], "--purpose", help="Only these purposes [default: as now]"),
           days: int | None = typer.Option(None, "--days", min=1, help="End this many days from now [default: as now]"),
           excepted: list[str] = Excepted,
           service_key: str | None = ServiceKey, receipt_out: Path | None = ReceiptOut,
           key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Narrow a consent within its current terms (a new version); what is not given stays as it is."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        current = client.consent.GetConsent(pb.GetConsentRequest(consent_id=consent_id)).consent
        request = pb.NarrowConsentRequest(consent_id=consent_id, terms=narrowed(
            consent_terms(current), category, purpose, days, excepted))
        typer.echo(consent_line(change(client, "NarrowConsent", request, service_key, receipt_out).consent))


@app.command()
def revoke(consent_id: str = typer.Argument(..., help="The consent to revoke"),
           reason: str = typer.Option("", "--reason", help="Why (kept with the consent)"),
           service_key: str | None = ServiceKey, receipt_out: Path | None = ReceiptOut,
           key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Revoke a consent: the grantee is refused from the next call."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(consent_line(change(client, "RevokeConsent", pb.RevokeConsentRequest(
            consent_id=consent_id, reason=reason), service_key, receipt_out).consent))


@app.command()
def consents(include_inactive: bool = typer.Option(False, "--all", help="Also revoked, expired and superseded"),
             key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
             tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List the patient's consents: id, version, status, kind, grantee, terms."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        for c in acting.every(client.consent.ListConsents, lambda token: pb.ListConsentsRequest(
                patient_id=who.patient_id, include_inactive=include_inactive, page_token=token), "consents"):
            typer.echo(consent_line(c))


@app.command()
def show(consent_id: str = typer.Argument(..., help="The consent"),
         key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
         tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Every version of a consent, oldest first."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        reply = client.consent.GetConsent(pb.GetConsentRequest(consent_id=consent_id))
    for c in reply.history or [reply.consent]:
        typer.echo(consent_line(c))


@app.command("export")
def export(consent_id: str = typer.Argument(..., help="The consent"),
           key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Print a consent as a FHIR R4 Consent resource (JSON)."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(client.consent.ExportConsent(pb.ExportConsentRequest(consent_id=consent_id)).fhir_json)


@app.command("import")
def import_(file: Path = typer.Option(..., "--file", exists=True, dir_okay=False,
                                      help="A FHIR R4 Consent resource (JSON)"),
            notice: str = privacy_notice.Notice, lang: str = privacy_notice.Lang,
            service_key: str | None = ServiceKey, receipt_out: Path | None = ReceiptOut,
            key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Grant the consent a FHIR R4 Consent resource describes (docs/fhir-consent.md), under the
    privacy notice the patient is shown first."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        ref = privacy_notice.shown(client, notice, lang)
        typer.echo(consent_line(change(client, "ImportConsent", pb.ImportConsentRequest(
            fhir_json=file.read_text(), notice=ref), service_key, receipt_out).consent))


@app.command()
def records(key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """The patient's records by holder and category (metadata only: nothing is decrypted)."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        for r in acting.every(client.exchange.ListRecords, lambda token: exchange_pb2.ListRecordsRequest(
                patient_id=who.patient_id, page_token=token), "records"):
            typer.echo(record_line(r))


@app.command()
def requests(status: str | None = typer.Option(None, "--status", help=f"Only one of: {', '.join(STATUSES)}"),
             key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
             tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List the access requests institutions made to the patient."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(STATUSES)}")
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        for r in _requests(client, who.patient_id, STATUSES.get(status or "")):
            typer.echo(request_line(r))


def _requests(client: Client, patient_id: str, status: str | None = None) -> list[pb.AccessRequest]:
    return list(acting.every(client.consent.ListAccessRequests, lambda token: pb.ListAccessRequestsRequest(
        patient_id=patient_id, status=status, page_token=token), "requests"))


@app.command()
def approve(request_id: str = typer.Argument(..., help="The access request"),
            category: list[str] = typer.Option([], "--category", help="Narrow: only these categories"),
            purpose: list[str] = typer.Option([], "--purpose", help="Narrow: only these purposes"),
            days: int | None = typer.Option(None, "--days", min=1, help="Narrow: end this many days from now"),
            excepted: list[str] = Excepted, lang: str = privacy_notice.Lang,
            service_key: str | None = ServiceKey, receipt_out: Path | None = ReceiptOut,
            key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Approve an access request as asked, or narrowed by the terms given, under the requester's
    privacy notice (printed first); prints the consent made."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        request = pb.ApproveAccessRequestRequest(request_id=request_id)
        asked = client.consent.GetAccessRequest(pb.GetAccessRequestRequest(request_id=request_id)).request
        if asked.HasField("notice"):  # requests made before notices existed name none
            privacy_notice.show_named(client, asked.notice, lang)
        if category or purpose or days or excepted:
            request.terms.CopyFrom(narrowed(asked.terms, category, purpose, days, excepted))
        typer.echo(consent_line(change(client, "ApproveAccessRequest", request, service_key, receipt_out).consent))


@app.command()
def decline(request_id: str = typer.Argument(..., help="The access request"),
            reason: str = typer.Option("", "--reason", help="Why (the requester reads it)"),
            key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Decline an access request."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(request_line(client.consent.DeclineAccessRequest(
            pb.DeclineAccessRequestRequest(request_id=request_id, reason=reason)).request))


def history_line(e: pb.AccessEvent) -> str:
    outcome = "shared" if e.allowed else "refused"
    emergency = "\tEMERGENCY" if e.emergency else ""
    reasons = "" if e.allowed else "\t" + "; ".join(e.reasons)
    return (f"#{e.ledger_seq}\t{e.time.ToJsonString()}\t{outcome}\t{e.institution_id}\t"
            f"{e.practitioner_id or '-'}\t{e.purpose}\t{e.category or '-'}\t{e.record_id or '-'}{emergency}{reasons}")


def _history(client: Client, patient_id: str) -> list[pb.AccessEvent]:
    return list(acting.every(client.consent.GetAccessHistory, lambda token: pb.GetAccessHistoryRequest(
        patient_id=patient_id, page_token=token), "events"))


@app.command()
def history(key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Who accessed the patient's records, when, why, and whether it was shared or refused."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        for e in _history(client, who.patient_id):
            typer.echo(history_line(e))


@app.command()
def watch(after: int = typer.Option(0, "--after", min=0, help="First the accesses after this ledger seq"),
          key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Print each access and each new access request as it commits, until interrupted.

    One line per event from the server's live stream (WatchAccess): an access as `history`
    prints it (an emergency access marked EMERGENCY), a new request as `request <request>`,
    another notice as `notice <kind> <id>`."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        watch_lines.follow(lambda seq: client.watch_access(who.patient_id, seq),
                           watch_lines.access_line(client, history_line), after)
