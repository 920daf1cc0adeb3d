"""`consentry patient notices | emergency`: what the service told the patient, and why someone
broke the glass.

Notices are the outbox of docs/notices.md (a new access request, an emergency access, an amended
record), closed kinds naming only the id of what they are about. An emergency access shows the
practitioner's justification, which only the patient, their proxies with the read-history scope
and auditors may read (docs/emergency.md).
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey
from consentry.services.cli.patient import Acting, For, PatientAs
from consentry.v1 import common_pb2
from consentry.v1 import consent_pb2 as pb


def notices(unread: bool = typer.Option(False, "--unread", help="Only those not yet marked read"),
            mark_read: bool = typer.Option(False, "--mark-read", help="Then mark the unread ones listed read"),
            key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """The notices queued for the patient, oldest first: id, kind, what it is about, when, read or not."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        listed = client.notices(who.patient_id, unread_only=unread)
        for notice in listed:
            typer.echo(notice_line(notice))
        fresh = [n.notice_id for n in listed if not n.HasField("read_time")]
        if mark_read and fresh:
            client.mark_notices_read(who.patient_id, fresh)
            typer.echo(f"marked {len(fresh)} notice(s) read")


def notice_line(n: pb.PatientNotice) -> str:
    kind = pb.NoticeKind.Name(n.kind).removeprefix("NOTICE_KIND_").lower().replace("_", "-")
    read = f"read {n.read_time.ToJsonString()}" if n.HasField("read_time") else "unread"
    return f"{n.notice_id}\t{kind}\t{n.subject_ref}\t{n.create_time.ToJsonString()}\t{read}"


def emergency(emergency_id: str = typer.Argument(..., help="The emergency access (from the history or a notice)"),
              key: Path = acting.KeyFile, as_: str = PatientAs, for_: str | None = For,
              target: str = acting.Target, tls_client_cert: Path | None = TlsClientCert,
              tls_client_key: Path | None = TlsClientKey) -> None:
    """A break-the-glass access: who, when, which records, the justification and its review."""
    who = Acting(key, as_, for_)
    with who.client(target, tls_client_cert, tls_client_key) as client:
        access = client.consent.GetEmergencyAccess(pb.GetEmergencyAccessRequest(emergency_id=emergency_id)).access
    for line in emergency_lines(access):
        typer.echo(line)


def emergency_lines(a: common_pb2.EmergencyAccess) -> list[str]:
    """An emergency access as `name: value` lines, the same for a patient and an auditor."""
    review = "pending" + (" (overdue)" if a.overdue else "")
    if a.outcome:
        outcome = common_pb2.EmergencyReviewOutcome.Name(a.outcome).removeprefix("EMERGENCY_REVIEW_OUTCOME_")
        review = f"{outcome.lower().replace('_', '-')} by {a.reviewer} at {a.review_time.ToJsonString()}"
    return [
        f"emergency: {a.emergency_id}",
        f"by: {a.recipient} ({a.practitioner_id}, {a.role})",
        f"at: {a.access_time.ToJsonString()}",
        f"records: {len(a.record_ids)} from {', '.join(a.holders) or '-'}",
        f"justification: {a.justification}",
        f"review: {review}, due {a.review_due_time.ToJsonString()}",
    ] + ([f"review comment: {a.review_comment}"] if a.review_comment else [])
