"""`consentry rights`: a patient's rights, from the command line (docs/rights.md).

A patient (or their guardian or next of kin) exports their records, files requests and
corrections and follows them; an institution lists the requests routed to it and answers them;
the operator establishes a guardian or next of kin. Client commands: `pip install consentry`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

import grpc
import typer
from nacl.signing import VerifyKey

from consentry.services import config as cfg
from consentry.services.cli import acting
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect, settings
from consentry.services.cli.datadir import operator_key
from consentry.services.crypto import keyfiles
from consentry.services.crypto.errors import CryptoError, KeyFileError
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import rights_pb2 as pb

app = typer.Typer(help="Patients' rights: exports, corrections, requests and representatives.",
                  no_args_is_help=True)

Target = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server")
Identity = typer.Option(None, "--identity", help="Your key file (default: the operator key in --data-dir)")
Principal = typer.Option(None, "--principal", help="With --identity: patient:<id> or org:<id>")
ActingPractitioner = typer.Option(None, "--acting-practitioner", help="With --principal org:ID: who acts")
ActingRole = typer.Option(None, "--acting-role", help="With --principal org:ID: the role they act in")
Patient = typer.Option(..., "--patient", help="The patient's id")
TYPES = {"access": pb.RIGHTS_REQUEST_TYPE_ACCESS, "erasure": pb.RIGHTS_REQUEST_TYPE_ERASURE,
         "restriction": pb.RIGHTS_REQUEST_TYPE_RESTRICTION, "objection": pb.RIGHTS_REQUEST_TYPE_OBJECTION}
BASES = {"guardian": pb.REPRESENTATIVE_BASIS_GUARDIAN, "next-of-kin": pb.REPRESENTATIVE_BASIS_NEXT_OF_KIN}

R = TypeVar("R")
T = TypeVar("T")


@app.command("export")
def export(patient: str = Patient, out: Path = typer.Option(..., "--out", help="Directory for the Bundles"),
           service_key: str = typer.Option(..., "--service-key",
                                           help="The service's share-signing key (base64), pinned out of band"),
           target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
           principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
           tls_client_key: Path | None = TlsClientKey) -> None:
    """Export the patient's records: each page a FHIR R4 Bundle, opened with your key, written to --out."""
    with _client(target, data_dir, identity, principal, None, None, tls_client_cert, tls_client_key) as client:
        try:
            pages = _call(lambda: client.export_records(patient, VerifyKey(base64.b64decode(service_key))))
        except (CryptoError, ValueError) as exc:
            _fail(f"the export did not check out: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages, 1):
        (out / f"bundle-{i}.json").write_text(json.dumps(page.bundle, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(f"exported {sum(p.header['records'] for p in pages)} records in {len(pages)} Bundle(s) to {out}")


@app.command("file")
def file(patient: str = Patient, kind: str = typer.Option(..., "--type", help="access, erasure, restriction or "
                                                                             "objection"),
         holder: str = typer.Option("", "--holder", help="The institution that must answer"),
         target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
         principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
         tls_client_key: Path | None = TlsClientKey) -> None:
    """File a rights request; prints its id and deadline."""
    if kind not in TYPES:
        _fail("--type must be one of " + ", ".join(TYPES))
    request = pb.FileRightsRequestRequest(patient_id=patient, type=TYPES[kind], holder=holder)
    with _client(target, data_dir, identity, principal, None, None, tls_client_cert, tls_client_key) as client:
        _echo(_call(lambda: client.rights.FileRightsRequest(request)).request)


@app.command("correct")
def correct(patient: str = Patient, record: str = typer.Option(..., "--record", help="The record's id"),
            reason: str = typer.Option(..., "--reason", help="inaccurate, incomplete, not-mine, outdated or other"),
            text: str = typer.Option("", "--text", help="What is wrong (kept encrypted)"),
            target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
            principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
            tls_client_key: Path | None = TlsClientKey) -> None:
    """Ask the record's holder to correct it."""
    request = pb.FileCorrectionRequest(patient_id=patient, record_id=record, reason=reason, text=text)
    with _client(target, data_dir, identity, principal, None, None, tls_client_cert, tls_client_key) as client:
        _echo(_call(lambda: client.rights.FileCorrection(request)).request)


@app.command("requests")
def requests(patient: str = typer.Option("", "--patient", help="The patient (required for a patient)"),
             target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
             principal: str | None = Principal, acting_practitioner: str | None = ActingPractitioner,
             acting_role: str | None = ActingRole, tls_client_cert: Path | None = TlsClientCert,
             tls_client_key: Path | None = TlsClientKey) -> None:
    """List rights requests: the patient's, those routed to your institution, or all (operator)."""
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role, tls_client_cert,
                 tls_client_key) as client:
        listed = _call(lambda: list(acting.every(client.rights.ListRightsRequests, lambda token: (
            pb.ListRightsRequestsRequest(patient_id=patient, page_token=token)), "requests")))
    for request in listed:
        _echo(request)


@app.command("representative")
def representative(patient: str = Patient,
                   person: str = typer.Option(..., "--representative", help="The enrolled representative's id"),
                   basis: str = typer.Option(..., "--basis", help="guardian or next-of-kin"),
                   evidence_type: str = typer.Option(..., "--evidence-type", help="e.g. court-order (docs/rights.md)"),
                   evidence: Path = typer.Option(..., "--evidence", exists=True, dir_okay=False,
                                                 help="The evidence document; only its SHA-256 is sent"),
                   target: str = Target, data_dir: Path | None = DataDir, tls_client_cert: Path | None = TlsClientCert,
                   tls_client_key: Path | None = TlsClientKey) -> None:
    """Operator: establish a minor's guardian or a deceased patient's next of kin, on evidence."""
    if basis not in BASES:
        _fail("--basis must be guardian or next-of-kin")
    request = pb.EstablishRepresentativeRequest(
        patient_id=patient, representative_id=person, basis=BASES[basis], evidence_type=evidence_type,
        evidence_hash=hashlib.sha256(evidence.read_bytes()).hexdigest())
    with _client(target, data_dir, None, None, None, None, tls_client_cert, tls_client_key) as client:
        got = _call(lambda: client.rights.EstablishRepresentative(request))
    typer.echo(f"{got.representative.representative_id} acts for {patient} as {basis} (ledger entry {got.ledger_seq})")


STATUSES = {"in-progress": pb.RIGHTS_REQUEST_STATUS_IN_PROGRESS, "extended": pb.RIGHTS_REQUEST_STATUS_EXTENDED,
            "completed": pb.RIGHTS_REQUEST_STATUS_COMPLETED, "refused": pb.RIGHTS_REQUEST_STATUS_REFUSED}
Refusal = typer.Option("", "--refusal-reason", help="With refused: a refusal reason code (docs/rights.md)")
Explanation = typer.Option("", "--explanation", help="For the patient (kept encrypted)")


@app.command("answer")
def answer(request_id: str = typer.Argument(..., help="The rights request"),
           status: str = typer.Option(..., "--status", help=" | ".join(STATUSES)),
           refusal_reason: str = Refusal, explanation: str = Explanation,
           target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
           principal: str | None = Principal, acting_practitioner: str | None = ActingPractitioner,
           acting_role: str | None = ActingRole, tls_client_cert: Path | None = TlsClientCert,
           tls_client_key: Path | None = TlsClientKey) -> None:
    """The holder (or the operator) moves a rights request on: in progress, extended once, completed or refused."""
    if status not in STATUSES:
        _fail("--status must be one of " + ", ".join(STATUSES))
    request = pb.UpdateRightsRequestRequest(request_id=request_id, status=STATUSES[status],
                                            refusal_reason=refusal_reason, explanation=explanation)
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role, tls_client_cert,
                 tls_client_key) as client:
        _echo(_call(lambda: client.rights.UpdateRightsRequest(request)).request)


@app.command("answer-correction")
def answer_correction(request_id: str = typer.Argument(..., help="The correction request"),
                      amended: Path | None = typer.Option(None, "--accept", exists=True, dir_okay=False,
                                                          help="Accept: the amended record (FHIR R4 JSON file)"),
                      refusal_reason: str = Refusal, explanation: str = Explanation,
                      target: str = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
                      principal: str | None = Principal, acting_practitioner: str | None = ActingPractitioner,
                      acting_role: str | None = ActingRole, tls_client_cert: Path | None = TlsClientCert,
                      tls_client_key: Path | None = TlsClientKey) -> None:
    """The holder accepts a correction with the amended record (the institutions that received the
    old version are told), or refuses it with a reason code."""
    if (amended is None) == (not refusal_reason):
        _fail("give --accept FILE or --refusal-reason CODE, not both")
    request = pb.AnswerCorrectionRequest(request_id=request_id, accept=amended is not None,
                                         fhir_json=amended.read_bytes() if amended else b"",
                                         refusal_reason=refusal_reason, explanation=explanation)
    with _client(target, data_dir, identity, principal, acting_practitioner, acting_role, tls_client_cert,
                 tls_client_key) as client:
        got = _call(lambda: client.rights.AnswerCorrection(request))
    _echo(got.request)
    if got.request.status == pb.RIGHTS_REQUEST_STATUS_COMPLETED:
        typer.echo(f"notified {got.notified} institution(s) that received the old version")


@app.command("recipient-notices")
def recipient_notices(target: str = Target, identity: Path | None = Identity, principal: str | None = Principal,
                      acting_practitioner: str | None = ActingPractitioner, acting_role: str | None = ActingRole,
                      tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """An institution: the records it received that were since amended (kind, record, amendment, when)."""
    with _client(target, None, identity, principal, acting_practitioner, acting_role, tls_client_cert,
                 tls_client_key) as client:
        notices = _call(lambda: list(acting.every(client.rights.ListRecipientNotices, lambda token: (
            pb.ListRecipientNoticesRequest(page_token=token)), "notices")))
    for n in notices:
        typer.echo(f"{n.notice_id}\t{n.kind}\t{n.record_id}\t{n.amendment_record_id}\t{n.create_time.ToJsonString()}")


@app.command("representatives")
def representatives(patient: str = Patient, target: str = Target, data_dir: Path | None = DataDir,
                    identity: Path | None = Identity, principal: str | None = Principal,
                    tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """The patient's guardians and next of kin, active or ended."""
    with _client(target, data_dir, identity, principal, None, None, tls_client_cert, tls_client_key) as client:
        got = _call(lambda: client.rights.ListRepresentatives(pb.ListRepresentativesRequest(patient_id=patient)))
    for r in got.representatives:
        typer.echo(_representative_line(r))


@app.command("end-representative")
def end_representative(patient: str = Patient,
                       person: str = typer.Option(..., "--representative", help="The representative's id"),
                       target: str = Target, data_dir: Path | None = DataDir,
                       tls_client_cert: Path | None = TlsClientCert,
                       tls_client_key: Path | None = TlsClientKey) -> None:
    """Operator: end a guardianship or next-of-kin standing; their calls for the patient are refused from now."""
    request = pb.EndRepresentativeRequest(patient_id=patient, representative_id=person)
    with _client(target, data_dir, None, None, None, None, tls_client_cert, tls_client_key) as client:
        typer.echo(_representative_line(_call(lambda: client.rights.EndRepresentative(request)).representative))


def _representative_line(r: pb.Representative) -> str:
    basis = pb.RepresentativeBasis.Name(r.basis).removeprefix("REPRESENTATIVE_BASIS_").lower().replace("_", "-")
    state = "active" if r.active else "ended " + r.end_time.ToJsonString()
    return f"{r.representative_id}\t{basis}\t{r.evidence_type}\tsince {r.create_time.ToJsonString()}\t{state}"


def _echo(request: pb.RightsRequest) -> None:
    kind = pb.RightsRequestType.Name(request.type).removeprefix("RIGHTS_REQUEST_TYPE_").lower()
    status = pb.RightsRequestStatus.Name(request.status).removeprefix("RIGHTS_REQUEST_STATUS_").lower()
    due = request.deadline_time.ToJsonString()
    typer.echo(f"{request.request_id}\t{kind}\t{status}\tdue {due} ({request.deadline_basis})"
               + (f"\trefused: {request.refusal_reason}" if request.refusal_reason else ""))


@contextmanager
def _client(target: str, data_dir: Path | None, identity: Path | None, principal: str | None,
            acting_practitioner: str | None, acting_role: str | None, tls_client_cert: Path | None,
            tls_client_key: Path | None) -> Iterator[Client]:
    try:
        if identity is None:
            caller = Caller("operator", operator_key(settings(data_dir)))
        elif not principal or not principal.startswith(("patient:", "org:")):
            _fail("--identity needs --principal patient:<id> or org:<id>")
        else:
            caller = Caller(principal, keyfiles.load_signing_key(identity), role=acting_role or "",
                            practitioner=acting_practitioner or "")
    except KeyFileError as exc:
        _fail(str(exc))
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        yield client


def _call(call: Callable[[], T]) -> T:
    """One call; a refusal ends the command with its status and message on one line."""
    try:
        return call()
    except grpc.RpcError as exc:
        _fail(f"{exc.code().name}: {exc.details()}")


def _fail(message: str) -> NoReturn:
    typer.echo(f"consentry rights: {message}", err=True)
    raise typer.Exit(1)
