"""`consentry incident`: for the operator, the scope of a breach from the server's database."""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli.common import DataDir
from consentry.services.cli.ledger import server_job

app = typer.Typer(help="Incidents: which patients a breach touches (needs consentry[server]).",
                  no_args_is_help=True)


@app.command("scope")
def scope(
    data_dir: Path | None = DataDir,
    recipient_key: str | None = typer.Option(None, "--recipient-key", help="a leaked encryption key id"),
    kek: str | None = typer.Option(None, "--kek", help="a leaked KEK id"),
    from_: str | None = typer.Option(None, "--from", help="start of a compromise window (RFC 3339)"),
    to: str | None = typer.Option(None, "--to", help="end of a compromise window (RFC 3339)"),
    notices: Path | None = typer.Option(None, "--notices", dir_okay=False,
                                        help="write a bilingual (zh/en) notice per patient here ('-': stdout)"),
    contact: str = typer.Option("[the operator's contact]", "--contact", help="contact line for the notices"),
) -> None:
    """Lists the patients an incident affects (by id: operator only) and drafts their notices."""
    kind, incident = _incident(recipient_key, kek, from_, to)
    db, _trail = server_job("incident scope", data_dir)
    from consentry.services.domain import incident_notices, incidents

    try:
        with db.read() as s:
            if kind == "kek":
                affected = incidents.by_kek(s, kek or "")
            elif kind == "recipient-key":
                affected = incidents.by_recipient_key(s, recipient_key or "")
            else:
                affected = incidents.by_window(s, incidents.time_ns(from_), incidents.time_ns(to))
    finally:
        db.dispose()
    for one in affected:
        typer.echo(f"{one.patient_id}\t{len(one.records)} record(s)\t{','.join(sorted(one.categories))}")
    typer.echo(f"{len(affected)} patient(s) affected by {incident}", err=True)
    if notices is not None:
        text = "\n".join(incident_notices.draft(kind, one, incident=incident, contact=contact) for one in affected)
        if str(notices) == "-":
            typer.echo(text)
        else:
            notices.write_text(text, encoding="utf-8")
            typer.echo(f"{len(affected)} notice(s) drafted in {notices}", err=True)


def _incident(recipient_key: str | None, kek: str | None, from_: str | None, to: str | None) -> tuple[str, str]:
    """Which incident was named, exactly one of three; BadParameter otherwise."""
    from consentry.services.domain.incidents import time_ns

    named = [name for name, value in (("--recipient-key", recipient_key), ("--kek", kek),
                                      ("--from/--to", from_ or to)) if value]
    if len(named) != 1:
        raise typer.BadParameter("name exactly one of --recipient-key, --kek or --from with --to")
    if recipient_key:
        return "recipient-key", f"encryption key {recipient_key}"
    if kek:
        return "kek", f"KEK {kek}"
    if not (from_ and to):
        raise typer.BadParameter("--from and --to go together", param_hint="--from/--to")
    try:
        start, end = time_ns(from_), time_ns(to)
    except ValueError as exc:
        raise typer.BadParameter(f"not an RFC 3339 time: {exc}", param_hint="--from/--to") from None
    if start > end:
        raise typer.BadParameter("--from is after --to", param_hint="--from/--to")
    return "window", f"window {from_} – {to}"
