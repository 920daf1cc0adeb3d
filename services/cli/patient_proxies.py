"""`consentry patient proxy`: a patient names who may act for them (a daughter, a carer), in
which scopes and until when; the proxy then acts with their own key and `--for PATIENT`."""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey
from consentry.services.cli.consent_terms import Days, days_from_now, until
from consentry.services.cli.patient import Acting, For, PatientAs
from consentry.v1 import consent_pb2 as pb

app = typer.Typer(help="Who may act for the patient.", no_args_is_help=True)

SCOPES = {name.removeprefix("PROXY_SCOPE_").lower().replace("_", "-"): name
          for name, value in pb.ProxyScope.items() if value}
ProxyId = typer.Option(..., "--proxy", help="The proxy's patient id (they are enrolled like a patient)")


def proxy_line(p: pb.Proxy) -> str:
    scopes = ",".join(pb.ProxyScope.Name(s).removeprefix("PROXY_SCOPE_").lower().replace("_", "-") for s in p.scopes)
    state = "active" if p.active else "inactive"
    return f"{p.proxy_id}\t{state}\t{scopes}\t{p.relationship or '-'}\tuntil {until(p, 'expire_time')}"


@app.command("add")
def add(proxy: str = ProxyId,
        scope: list[str] = typer.Option(..., "--scope", help=f"One of: {', '.join(SCOPES)} (repeat for several)"),
        relationship: str = typer.Option("", "--relationship", help="e.g. daughter"),
        days: int | None = Days,
        key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
        tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Let another enrolled person act for the patient, in these scopes."""
    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        raise typer.BadParameter(f"--scope must be one of {', '.join(SCOPES)}, not {', '.join(unknown)}")
    who = Acting(key, as_, for_)
    request = pb.AddProxyRequest(patient_id=who.patient_id, proxy_id=proxy, relationship=relationship,
                                 scopes=[SCOPES[s] for s in scope])
    if days is not None:
        request.expire_time.CopyFrom(days_from_now(days))
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(proxy_line(client.consent.AddProxy(request).proxy))


@app.command("remove")
def remove(proxy: str = ProxyId,
           key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
           tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Stop a proxy acting for the patient, from their next call."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(proxy_line(client.consent.RemoveProxy(
            pb.RemoveProxyRequest(patient_id=who.patient_id, proxy_id=proxy)).proxy))


@app.command("list")
def list_(key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """The patient's proxies: id, state, scopes, relationship, expiry."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        for p in client.consent.ListProxies(pb.ListProxiesRequest(patient_id=who.patient_id)).proxies:
            typer.echo(proxy_line(p))
