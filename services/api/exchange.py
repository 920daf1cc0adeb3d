"""ExchangeService: deposit, list, fetch (decide, seal, ledger, stream) and erase records."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from consentry.services import clock, metrics
from consentry.services.api.app import App
from consentry.services.crypto import at_rest
from consentry.services.domain import delivery, deposits, erasure, metadata_reads, patient_identifiers
from consentry.services.domain.disclosure import Disclosure, Outcome
from consentry.services.domain.readings import PATIENT_REPORTED
from consentry.services.domain.record_requests import (
    validate_erase_record,
    validate_fetch_records,
    validate_list_records,
    validate_put_observation,
    validate_put_record,
)
from consentry.services.domain.references import PatientIdentity
from consentry.services.domain.validation import to_timestamp
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.models import Record
from consentry.v1 import exchange_pb2 as pb
from consentry.v1 import exchange_pb2_grpc

log = logging.getLogger(__name__)


def metadata_pb(row: Record, viewer: Principal) -> pb.RecordMetadata:
    """A record's metadata for its holder or its patient: the content hash only to the holder."""
    held = viewer.kind == "org" and viewer.name == row.holder
    return _metadata(row, patient_id=row.patient_id, content_hash=(row.content_hash or "") if held else "")


def shared_metadata_pb(row: Record, subject_id: str) -> pb.RecordMetadata:
    """A shared record's metadata for its recipient: never a content hash (it would confirm a
    guess of the body), and in a research fetch the subject id in place of the patient id."""
    return _metadata(row, patient_id="" if subject_id else row.patient_id, subject_id=subject_id)


def _metadata(row: Record, *, patient_id: str, content_hash: str = "", subject_id: str = "") -> pb.RecordMetadata:
    return pb.RecordMetadata(
        record_id=row.record_id, patient_id=patient_id, subject_id=subject_id, holder=row.holder,
        resource_type=row.resource_type, category=row.category, labels=list(row.labels),
        effective_time=to_timestamp(row.effective_ns), create_time=to_timestamp(row.created_ns),
        erased=row.erased_ns is not None, content_hash=content_hash,
        label_reasons=[pb.LabelReason(**reason) for reason in row.label_reasons or []],
        amends_record_id=row.amends_record_id or "", patient_reported=row.holder == PATIENT_REPORTED,
    )


def outcome_pb(outcome: Outcome) -> pb.FetchRecordsResponse:
    """A shared record with its package, or a withheld one with reasons, never content."""
    record, package = outcome.record, outcome.package
    if package is None:
        return pb.FetchRecordsResponse(
            ledger_seq=outcome.ledger_seq, ledger_entry=outcome.ledger_entry, withheld=pb.WithheldRecord(
                record_id=record.record_id, category=record.category, reasons=outcome.reasons,
                erased=outcome.erased))
    return pb.FetchRecordsResponse(
        ledger_seq=outcome.ledger_seq, ledger_entry=outcome.ledger_entry, shared=pb.SharedRecord(
            record=shared_metadata_pb(record, outcome.subject_id), package=pb.SharePackage(
                header=package.header, ciphertext=package.ciphertext, sealed_key=package.sealed_key,
                signature=package.signature)))


class ExchangeServicer(exchange_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def PutRecord(self, request: pb.PutRecordRequest, context: grpc.ServicerContext) -> pb.PutRecordResponse:
        holder = current_principal()
        holder.require("org")
        app = self.app
        deposit = validate_put_record(request, app.settings.max_body_bytes, app.deposit_rules, self._identity)
        sealed = deposits.seal_deposit(holder.name, request.patient_id, request.fhir_json, deposit, app.kek,
                                       app.trail.pseudonym_key)
        with self.app.db.write() as s:
            row, seq = deposits.file_deposit(s, self.app.trail, holder, sealed, self.app.kek)
            return pb.PutRecordResponse(record=metadata_pb(row, holder), ledger_seq=seq)

    def PutObservation(self, request: pb.PutObservationRequest,
                       context: grpc.ServicerContext) -> pb.PutObservationResponse:
        """A home reading, by the patient or a proxy with the report-readings scope: validated as a
        reading, stamped patient-reported, then sealed and filed by the deposit path."""
        reporter = current_principal()
        reporter.require("patient")
        app = self.app
        body, deposit = validate_put_observation(request, app.settings.max_body_bytes, app.deposit_rules,
                                                 self._identity, clock.now_ns())
        sealed = deposits.seal_deposit(PATIENT_REPORTED, request.patient_id, body, deposit, app.kek,
                                       app.trail.pseudonym_key)
        with app.db.write() as s:
            row, seq = deposits.file_reading(s, app.trail, sealed)
            return pb.PutObservationResponse(record=metadata_pb(row, reporter), ledger_seq=seq)

    def _identity(self, patient_id: str) -> PatientIdentity:
        """The patient as a deposit's references may name them (an unknown id has no identifiers;
        filing it is refused later, NOT_FOUND)."""
        with self.app.db.read() as s:
            hashes = patient_identifiers.enrolled_hashes(s, patient_id)
        return PatientIdentity(patient_id, hashes, self.app.trail.pseudonym_key)

    def ListRecords(self, request: pb.ListRecordsRequest, context: grpc.ServicerContext) -> pb.ListRecordsResponse:
        size = validate_list_records(request)
        principal = current_principal()
        with self.app.db.write() as s:
            rows, token = deposits.records_page(s, principal, request.patient_id, size, request.page_token)
            metadata_reads.ledger_read(s, self.app.trail, principal, metadata_reads.RECORDS, request.patient_id,
                                       len(rows))
        return pb.ListRecordsResponse(records=[metadata_pb(r, principal) for r in rows], next_page_token=token)

    def FetchRecords(self, request: pb.FetchRecordsRequest,
                     context: grpc.ServicerContext) -> Iterator[pb.FetchRecordsResponse]:
        principal = current_principal()
        principal.require("org")
        fetch = validate_fetch_records(request)
        app = self.app
        disclosure = Disclosure(app.trail, app.policy, app.kek, app.share_signer)
        outcomes = disclosure.fetch(app.db, principal, fetch)
        for outcome in outcomes:
            metrics.DISCLOSURES.labels(metrics.WITHHELD if outcome.package is None else metrics.SHARED).inc()
        responses = [outcome_pb(o) for o in outcomes]
        # Only after the disclosures and their ledger entries have committed does anything leave.
        yield from responses
        # Reached only once gRPC took the last message: a stream cut short (drain, client gone,
        # deadline) never asks for more, and its shares stay "not confirmed received".
        if context.is_active():
            self._delivered(principal, outcomes)

    def _delivered(self, principal: Principal, outcomes: list[Outcome]) -> None:
        """Ledgers the fetch's completion (domain/delivery.py); failing, the shares stay
        unconfirmed and the call still succeeds: the recipient has them."""
        try:
            with self.app.db.write() as s:
                delivery.ledger_delivery(s, self.app.trail, principal, outcomes)
        except Exception:
            log.warning("could not ledger a fetch's delivery", exc_info=True)

    def EraseRecord(self, request: pb.EraseRecordRequest, context: grpc.ServicerContext) -> pb.EraseRecordResponse:
        """The holder erases its own record; the patient, or a proxy with the manage-consents
        scope, erases one where the policy allows (action "erase", data/erasure.json)."""
        principal = current_principal()
        principal.require("org", "patient")
        validate_erase_record(request)
        with self.app.db.write() as s:
            row, seq = erasure.erase(s, self.app.trail, self.app.policy, principal, request.record_id)
            reply = pb.EraseRecordResponse(record=metadata_pb(row, principal), ledger_seq=seq)
        # Only once the erasure is committed: destroyed before, a failed commit would leave a
        # record that is neither erased nor readable.
        at_rest.destroy_record_key(row.record_id, self.app.kek)
        try:
            self.app.db.shred(erasure.TOUCHED_TABLES)
        except Exception:  # the erasure stands; the next one (or the operator) cleans the files
            log.warning("could not clean the database files after an erasure", exc_info=True)
        return reply
