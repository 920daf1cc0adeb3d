"""`consentry org deposit | records | erase | fetch`: an institution's records, in and out.

`fetch` writes each shared record's plaintext FHIR JSON to a file of its own (0600), only after
the SDK has checked its share package: the service's signature under the pinned `--service-key`,
addressed to this institution and its `--encryption-key`, answering this fetch (purpose, patient,
nonce, time, a share id not seen before). A package that fails a check ends the command.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from nacl.signing import VerifyKey

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey, connect
from consentry.services.crypto import keyfiles
from consentry.services.sdk.fetched import FetchedRecord
from consentry.v1 import exchange_pb2 as pb

Patient = typer.Option(..., "--patient", help="The patient's id")


def deposit(patient: str = Patient,
            file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="A FHIR resource (JSON)"),
            category: str = typer.Option("", "--category", help="The record's category [default: from its codes]"),
            label: list[str] = typer.Option([], "--label", help="A security label (repeat for several)"),
            key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
            practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Deposit a record from a file; prints its id, category, labels and ledger position."""
    request = pb.PutRecordRequest(patient_id=patient, fhir_json=file.read_bytes(), category=category, labels=label)
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        reply = client.exchange.PutRecord(request)
    r = reply.record
    typer.echo(f"{r.record_id}\t{r.category}\t{','.join(r.labels) or '-'}\tledger #{reply.ledger_seq}")


def records(patient: str = Patient, key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
            practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """List the records this institution holds about a patient (metadata only)."""
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        for r in acting.every(client.exchange.ListRecords, lambda token: pb.ListRecordsRequest(
                patient_id=patient, page_token=token), "records"):
            typer.echo(record_line(r))


def record_line(r: pb.RecordMetadata) -> str:
    erased = "\terased" if r.erased else ""  # an erased record's category is erased too (docs/erasure.md)
    return f"{r.record_id}\t{r.holder}\t{r.resource_type}\t{r.category or '-'}\t{','.join(r.labels) or '-'}{erased}"


def erase(record_id: str = typer.Argument(..., help="The record, held by this institution"),
          reason: str = typer.Option(..., "--reason", help="Why (kept with the erasure)"),
          key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
          practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Erase a record this institution deposited: its content is destroyed, its metadata kept."""
    caller = acting.institution(key, as_, role, practitioner)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        reply = client.exchange.EraseRecord(pb.EraseRecordRequest(record_id=record_id, reason=reason))
    typer.echo(f"{record_line(reply.record)}\tledger #{reply.ledger_seq}")


def fetch(patient: str = typer.Option("", "--patient", help="The patient's id (empty for research)"),
          purpose: str = typer.Option(..., "--purpose", help="The purpose of use, e.g. TREAT"),
          out: Path = typer.Option(..., "--out", file_okay=False, help="The directory to write records to"),
          encryption_key: Path = typer.Option(..., "--encryption-key", dir_okay=False,
                                              help="This institution's X25519 key file shares are sealed to"),
          service_key: str = typer.Option(..., "--service-key",
                                          help="The service's share-signing public key (base64, from "
                                               "`consentry keys show`, pinned out of band)"),
          category: list[str] = typer.Option([], "--category", help="Only this category (repeat for several)"),
          record: list[str] = typer.Option([], "--record", help="Only this record id (repeat for several)"),
          subject_id: str = typer.Option("", "--subject-id", help="Research: the consent's subject id"),
          emergency: str = typer.Option("", "--emergency", help="Break the glass, with this justification"),
          key: Path = acting.KeyFile, as_: str = acting.OrgAs, role: str = acting.Role,
          practitioner: str = acting.ActingPractitioner, target: str = acting.Target,
          tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Fetch a patient's records for a purpose; write each shared one to OUT/<record id>.json."""
    caller = acting.institution(key, as_, role, practitioner)
    recipient = keyfiles.load_x25519_key(encryption_key)
    pinned = VerifyKey(acting.public_key(service_key, "--service-key"))
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        got = list(client.fetch(patient, purpose, recipient_key=recipient, service_key=pinned,
                                categories=tuple(category), record_ids=tuple(record),
                                emergency_justification=emergency, subject_id=subject_id))
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for item in got:
        typer.echo(_write(out, item) if item.shared else
                   f"withheld\t{item.record_id}\t{item.category or '-'}\t{'; '.join(item.reasons)}")


def _write(out: Path, item: FetchedRecord) -> str:
    """Writes the plaintext (clinical content: owner-only) and says where."""
    assert item.body is not None
    path = out / f"{item.record_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(item.body)
    return f"shared\t{item.record_id}\t{item.category}\t{path}"
