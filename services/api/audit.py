"""AuditService: checkpoints, entries and proofs for auditors; a patient's own entries."""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.ledger.checkpoint import CheckpointPolicy, NoteSigning
from consentry.ledger.db import LedgerReader, StoredCheckpoint, StoredEntry, cut_checkpoint
from consentry.ledger.errors import LedgerError
from consentry.services import clock, metrics
from consentry.services.api.app import App
from consentry.services.domain import emergencies, metadata_reads
from consentry.services.domain.audit_events import audit_bundle, audit_events
from consentry.services.domain.audit_requests import (
    validate_consistency_proof,
    validate_export_audit_events,
    validate_inclusion_proof,
    validate_list_emergency_accesses,
    validate_list_entries,
    validate_review_emergency_access,
)
from consentry.services.domain.paging import within_bytes
from consentry.services.domain.validation import PERSON_ID
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied
from consentry.services.identity.acting_for import READ_HISTORY, about_enrolled, acting_for
from consentry.services.identity.principals import current_principal
from consentry.services.store.models import LedgerSubject
from consentry.v1 import audit_pb2 as pb
from consentry.v1 import audit_pb2_grpc


def checkpoint_pb(cp: StoredCheckpoint) -> pb.Checkpoint:
    checkpoint = pb.Checkpoint(note=cp.note, tree_size=cp.size, root_hash=cp.root)
    checkpoint.create_time.FromDatetime(cp.time)
    return checkpoint


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, app: App, signer: NoteSigning) -> None:
        self.app = app
        self.signer = signer

    def cut(self, policy: CheckpointPolicy | None = None) -> StoredCheckpoint | None:
        """Signs a checkpoint of everything committed so far, unless nothing changed."""
        with self.app.db.write() as s:
            cp = cut_checkpoint(s.connection(), self.signer, self.app.settings.ledger_origin, clock.now_utc(), policy)
        if cp is not None:
            metrics.CHECKPOINT_TIME.set(cp.time.timestamp())
            metrics.CHECKPOINT_ENTRIES.set(cp.size)
            metrics.LEDGER_ENTRIES.set(cp.size)  # all of it was committed (a quiet ledger's size too)
        return cp

    def GetCheckpoint(self, request: pb.GetCheckpointRequest,
                      context: grpc.ServicerContext) -> pb.GetCheckpointResponse:
        if request.refresh:
            # Institutions may ask too: they need a checkpoint covering their own fetch to prove
            # a disclosure (Client.verify_disclosure). cut() signs only when the ledger grew, so
            # a refresh costs at most one checkpoint per new entry and never re-signs a size.
            current_principal().require("auditor", "operator", "org")
            cp = self.cut()
        else:
            with self.app.db.read() as s:
                cp = LedgerReader(s.connection()).latest_checkpoint()
            if cp is None:
                cp = self.cut()
        if cp is None:
            raise FailedPrecondition("the ledger is empty; there is no checkpoint yet")
        return pb.GetCheckpointResponse(checkpoint=checkpoint_pb(cp))

    def ListEntries(self, request: pb.ListEntriesRequest, context: grpc.ServicerContext) -> pb.ListEntriesResponse:
        """At most page_size entries and MAX_PAGE_BYTES of them; `next_start` says where to go on."""
        principal = current_principal()
        size = validate_list_entries(request, principal)
        with self.app.db.write() as s:
            reader = LedgerReader(s.connection())
            if principal.kind == "patient":
                rows, next_start = self._patient_page(s, reader, request.patient_id, request.start, size)
                metadata_reads.ledger_entries_read(s, self.app.trail, principal, request.start, rows,
                                                   request.patient_id)
            else:
                try:
                    principal.require("auditor", "operator")
                except PermissionDenied as denied:  # an attempt on a patient's entries: theirs to see
                    if PERSON_ID.fullmatch(request.patient_id):  # unvalidated for this caller: look up only an id
                        denied = about_enrolled(s, denied, request.patient_id)
                    raise denied from None
                rows = _page(reader.entries(request.start, size))
                next_start = rows[-1].seq + 1 if rows else max(request.start, reader.size())
                metadata_reads.ledger_entries_read(s, self.app.trail, principal, request.start, rows)
        return pb.ListEntriesResponse(entries=[pb.LedgerEntry(seq=e.seq, entry=e.entry) for e in rows],
                                      next_start=next_start)

    def ExportAuditEvents(self, request: pb.ExportAuditEventsRequest,
                          context: grpc.ServicerContext) -> pb.ExportAuditEventsResponse:
        """A patient's own entries as FHIR AuditEvents, paged like the patient form of ListEntries."""
        size = validate_export_audit_events(request)
        origin = self.app.settings.ledger_origin
        with self.app.db.write() as s:
            # Only a patient, or their proxy, exports their events; an auditor exports the whole
            # ledger (`consentry audit export --format fhir-auditevent`).
            principal = current_principal()
            try:
                principal.require("patient")
            except PermissionDenied as denied:  # an attempt on a patient's entries: theirs to see
                raise about_enrolled(s, denied, request.patient_id) from None
            rows, next_start = self._patient_page(s, LedgerReader(s.connection()), request.patient_id,
                                                  request.start, size)
            events = audit_events(((e.seq, e.entry) for e in rows), origin)
            # An event is about twice its entry's size: the page is bounded by what it sends.
            kept = within_bytes(events, lambda event: len(json.dumps(event, separators=(",", ":"))))
            if len(kept) < len(events):
                next_start = int(events[len(kept)]["id"].removeprefix("ledger-"))
            sent = [e for e in rows if e.seq < next_start] if len(kept) < len(events) else rows
            metadata_reads.ledger_entries_read(s, self.app.trail, principal, request.start, sent,
                                               request.patient_id, kind_of_read=metadata_reads.AUDIT_EVENTS)
        return pb.ExportAuditEventsResponse(
            bundle_json=json.dumps(audit_bundle(kept), separators=(",", ":")).encode(), next_start=next_start)

    def _patient_page(self, s: Session, reader: LedgerReader, patient_id: str, start: int,
                      size: int) -> tuple[list[StoredEntry], int]:
        """The entries about a patient the caller may read the history of, from `start`; and where
        the next page starts."""
        acting_for(s, patient_id, READ_HISTORY)
        seqs = s.scalars(select(LedgerSubject.seq).where(
            LedgerSubject.pseudonym == self.app.trail.known_pseudonym(s, patient_id),
            LedgerSubject.seq >= start).order_by(LedgerSubject.seq).limit(size + 1)).all()
        rows = _page(reader.entries_at(seqs[:size]))
        return rows, seqs[len(rows)] if len(rows) < len(seqs) else reader.size()

    def GetInclusionProof(self, request: pb.GetInclusionProofRequest,
                          context: grpc.ServicerContext) -> pb.GetInclusionProofResponse:
        with self.app.db.read() as s:
            reader = LedgerReader(s.connection())
            size = validate_inclusion_proof(request, reader.size())
            hashes = _proof(lambda: reader.inclusion_proof(request.seq, size))
            leaf = reader.entries(request.seq, 1)[0].leaf_hash
        return pb.GetInclusionProofResponse(seq=request.seq, tree_size=size, leaf_hash=leaf, hashes=hashes)

    def GetConsistencyProof(self, request: pb.GetConsistencyProofRequest,
                            context: grpc.ServicerContext) -> pb.GetConsistencyProofResponse:
        with self.app.db.read() as s:
            reader = LedgerReader(s.connection())
            new = validate_consistency_proof(request, reader.size())
            hashes = _proof(lambda: reader.consistency_proof(request.old_size, new))
        return pb.GetConsistencyProofResponse(old_size=request.old_size, new_size=new, hashes=hashes)

    def ListEmergencyAccesses(self, request: pb.ListEmergencyAccessesRequest,
                              context: grpc.ServicerContext) -> pb.ListEmergencyAccessesResponse:
        current_principal().require("auditor")
        size = validate_list_emergency_accesses(request)
        now = clock.now_ns()
        with self.app.db.write() as s:
            rows, token = emergencies.review_queue(s, request.pending_only, size, request.page_token)
            metadata_reads.ledger_read_many(s, self.app.trail, current_principal(), metadata_reads.EMERGENCY_ACCESSES,
                                            [r.patient_id for r in rows])
            return pb.ListEmergencyAccessesResponse(
                accesses=[emergencies.access_pb(r, self.app.kek, now) for r in rows], next_page_token=token)

    def ReviewEmergencyAccess(self, request: pb.ReviewEmergencyAccessRequest,
                              context: grpc.ServicerContext) -> pb.ReviewEmergencyAccessResponse:
        current_principal().require("auditor")
        outcome = validate_review_emergency_access(request)
        with self.app.db.write() as s:
            row = emergencies.review(s, self.app.trail, request.emergency_id, outcome, request.comment)
            return pb.ReviewEmergencyAccessResponse(access=emergencies.access_pb(row, self.app.kek, clock.now_ns()))


def _page(entries: list[StoredEntry]) -> list[StoredEntry]:
    return within_bytes(entries, lambda e: len(e.entry))


def _proof(build: Callable[[], list[bytes]]) -> list[bytes]:
    try:
        return build()
    except LedgerError as exc:
        raise NotFound("the ledger holds no such proof (check seq and the tree sizes)") from exc
