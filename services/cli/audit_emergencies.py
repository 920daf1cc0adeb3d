"""`consentry audit emergencies | review`: the break-the-glass review queue (docs/emergency.md).

Every emergency access waits for one auditor's outcome — justified, not justified, or referred
to the privacy officer — within the deadline policy data sets; a late review is recorded as late.
The comment stays with the review and is never ledgered.
"""

from __future__ import annotations

from pathlib import Path

import typer

from consentry.services.cli import acting
from consentry.services.cli.audit import Identity, Principal, auditor_client
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey
from consentry.services.cli.patient_notices import emergency_lines
from consentry.v1 import audit_pb2, common_pb2

OUTCOMES = {name.removeprefix("EMERGENCY_REVIEW_OUTCOME_").lower().replace("_", "-"): name
            for name, value in common_pb2.EmergencyReviewOutcome.items() if value}


def emergencies(pending: bool = typer.Option(False, "--pending", help="Only those not yet reviewed"),
                target: str = acting.Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
                principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
                tls_client_key: Path | None = TlsClientKey) -> None:
    """List emergency accesses, oldest first: id, institution, time, records, review (OVERDUE when late)."""
    with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
        for a in acting.every(client.audit.ListEmergencyAccesses, lambda token: audit_pb2.ListEmergencyAccessesRequest(
                pending_only=pending, page_token=token), "accesses"):
            typer.echo(queue_line(a))


def queue_line(a: common_pb2.EmergencyAccess) -> str:
    if a.outcome:
        review = common_pb2.EmergencyReviewOutcome.Name(a.outcome).removeprefix("EMERGENCY_REVIEW_OUTCOME_").lower()
    else:
        review = "OVERDUE" if a.overdue else f"due {a.review_due_time.ToJsonString()}"
    return (f"{a.emergency_id}\t{a.recipient}\t{a.practitioner_id}\t{a.access_time.ToJsonString()}\t"
            f"{len(a.record_ids)} records\t{review.replace('_', '-')}")


def review(emergency_id: str = typer.Argument(..., help="The emergency access"),
           outcome: str = typer.Option(..., "--outcome", help=" | ".join(OUTCOMES)),
           comment: str = typer.Option("", "--comment", help="The reviewer's note (kept with the review)"),
           target: str = acting.Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
           principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
           tls_client_key: Path | None = TlsClientKey) -> None:
    """Record the outcome of an emergency access's review; prints the access as it now stands."""
    if outcome not in OUTCOMES:
        raise typer.BadParameter(f"--outcome must be one of {', '.join(OUTCOMES)}")
    request = audit_pb2.ReviewEmergencyAccessRequest(emergency_id=emergency_id, outcome=OUTCOMES[outcome],
                                                     comment=comment)
    with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
        access = client.audit.ReviewEmergencyAccess(request).access
    for line in emergency_lines(access):
        typer.echo(line)
