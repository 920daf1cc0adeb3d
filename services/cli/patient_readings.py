"""`consentry patient reading add`: the patient, or a proxy with the report-readings scope and
`--for PATIENT`, deposits a home reading (docs/readings.md): blood pressure, glucose, body weight
or heart rate, taken now or `--at` an ISO time. It prints the filed record's line."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from consentry.services import clock
from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey
from consentry.services.cli.org_records import record_line
from consentry.services.cli.patient import Acting, For, PatientAs
from consentry.services.sdk import readings

app = typer.Typer(help="Home readings the patient reports.", no_args_is_help=True)


class Kind(StrEnum):
    bp = "bp"
    glucose = "glucose"
    weight = "weight"
    heart_rate = "heart-rate"


@app.command("add")
def add(kind: Kind = typer.Option(..., "--kind", help="bp, glucose, weight or heart-rate"),
        systolic: float | None = typer.Option(None, "--systolic", help="bp: mm[Hg]"),
        diastolic: float | None = typer.Option(None, "--diastolic", help="bp: mm[Hg]"),
        value: float | None = typer.Option(None, "--value", help="glucose, weight (kg) or heart-rate (/min)"),
        unit: str = typer.Option("mg/dL", "--unit", help="glucose: mg/dL or mmol/L"),
        at: str | None = typer.Option(None, "--at", help="When it was taken, ISO 8601 [default: now]"),
        key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
        tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Deposit one home reading for the patient."""
    who = Acting(key, as_, for_)
    body = build(kind, who.patient_id, _when(at), systolic=systolic, diastolic=diastolic, value=value, unit=unit)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        typer.echo(record_line(client.put_observation(who.patient_id, body).record))


def build(kind: Kind, patient_id: str, at: datetime, *, systolic: float | None, diastolic: float | None,
          value: float | None, unit: str) -> bytes:
    """The reading's FHIR Observation, or a usage error naming the missing option."""
    if kind is Kind.bp:
        if systolic is None or diastolic is None:
            raise typer.BadParameter("--kind bp needs --systolic and --diastolic")
        return readings.blood_pressure(patient_id, systolic, diastolic, at)
    if value is None:
        raise typer.BadParameter(f"--kind {kind.value} needs --value")
    if kind is Kind.glucose:
        if unit not in readings.GLUCOSE_CODES:
            raise typer.BadParameter("--unit must be mg/dL or mmol/L")
        return readings.glucose(patient_id, value, unit, at)
    if kind is Kind.weight:
        return readings.weight(patient_id, value, at)
    return readings.heart_rate(patient_id, value, at)


def _when(at: str | None) -> datetime:
    if at is None:
        return clock.now_utc()
    try:
        stamp = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("--at must be an ISO 8601 time, e.g. 2026-03-01T08:30:00+01:00") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
