"""AuditService: checkpoints, entries and proofs for auditors; a patient's own entries."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from consentry.ledger.checkpoint import NoteSigner
from consentry.ledger.errors import LedgerError
from consentry.ledger.db import LedgerReader, StoredCheckpoint, cut_checkpoint
from consentry.services.api.app import App
from consentry.services.identity.acting_for import READ_HISTORY, acting_for
from consentry.services.errors import FailedPrecondition, InvalidArgument, NotFound
from consentry.services.store.models import LedgerSubject
from consentry.services.identity.principals import current_principal
from consentry.services.domain.validation import Violations
from consentry.v1 import audit_pb2 as pb
from consentry.v1 import audit_pb2_grpc

MAX_PAGE = 1000


def checkpoint_pb(cp: StoredCheckpoint) -> pb.Checkpoint:
    checkpoint = pb.Checkpoint(note=cp.note, tree_size=cp.size, root_hash=cp.root)
    checkpoint.create_time.FromDatetime(cp.time)
    return checkpoint


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, app: App, signer: NoteSigner) -> None:
        self.app = app
        self.signer = signer

    def cut(self, policy=None) -> StoredCheckpoint | None:
        """Signs a checkpoint of everything committed so far, unless nothing changed."""
        with self.app.db.write() as s:
            return cut_checkpoint(s.connection(), self.signer, self.app.settings.ledger_origin,
                                  datetime.now(timezone.utc), policy)

    def GetCheckpoint(self, request, context):
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

    def ListEntries(self, request, context):
        principal = current_principal()
        v = Violations()
        v.page_size("page_size", request.page_size, MAX_PAGE)
        if principal.kind == "patient":
            v.person_id("patient_id", request.patient_id)
        v.raise_if_any()
        size = request.page_size or 100
        with self.app.db.read() as s:
            if principal.kind == "patient":
                acting_for(s, request.patient_id, READ_HISTORY)
                seqs = s.scalars(select(LedgerSubject.seq).where(
                    LedgerSubject.pseudonym == self.app.trail.pseudonym(request.patient_id),
                    LedgerSubject.seq >= request.start).order_by(LedgerSubject.seq).limit(size + 1)).all()
                reader = LedgerReader(s.connection())
                rows = [(e.seq, e.entry) for e in reader.entries_at(seqs[:size])]
                next_start = seqs[size] if len(seqs) > size else reader.size()
            else:
                principal.require("auditor", "operator")
                reader = LedgerReader(s.connection())
                rows = [(e.seq, e.entry) for e in reader.entries(request.start, size)]
                next_start = rows[-1][0] + 1 if rows else max(request.start, reader.size())
        return pb.ListEntriesResponse(entries=[pb.LedgerEntry(seq=q, entry=e) for q, e in rows], next_start=next_start)

    def GetInclusionProof(self, request, context):
        with self.app.db.read() as s:
            reader = LedgerReader(s.connection())
            size = request.tree_size or reader.size()
            _check_range(request.seq < size <= reader.size(), "seq", "must be below tree_size, which must not exceed the ledger size")
            hashes = _proof(lambda: reader.inclusion_proof(request.seq, size))
            leaf = reader.entries(request.seq, 1)[0].leaf_hash
        return pb.GetInclusionProofResponse(seq=request.seq, tree_size=size, leaf_hash=leaf, hashes=hashes)

    def GetConsistencyProof(self, request, context):
        with self.app.db.read() as s:
            reader = LedgerReader(s.connection())
            new = request.new_size or reader.size()
            _check_range(0 < request.old_size <= new <= reader.size(), "old_size",
                         "must satisfy 0 < old_size <= new_size <= ledger size")
            hashes = _proof(lambda: reader.consistency_proof(request.old_size, new))
        return pb.GetConsistencyProofResponse(old_size=request.old_size, new_size=new, hashes=hashes)


def _check_range(ok: bool, field: str, why: str) -> None:
    if not ok:
        raise InvalidArgument([(field, why)])


def _proof(build):
    try:
        return build()
    except LedgerError as exc:
        raise NotFound(f"no such proof: {exc}") from exc
