"""The patient's notice outbox: what the service tells a patient happened, queued in the
transaction that made it happen, so a notice exists exactly when its event does.

A notice is a kind from a closed set and the id of what it is about (an access request, an
emergency access, a record): never text of anyone's choosing and never clinical content, so it
may be listed, streamed or pushed to any of the patient's devices as it is. The patient opens
the object itself through the RPC that shows it, where the usual access rules apply.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.domain.validation import to_timestamp
from consentry.services.errors import NotFound
from consentry.services.identity.acting_for import READ_HISTORY, acting_for
from consentry.services.store.models import PatientNotice
from consentry.v1 import consent_pb2 as pb

ACCESS_REQUESTED = "access.requested"
EMERGENCY_ACCESS = "emergency.access"
RECORD_AMENDED = "record.amended"
KINDS = frozenset({ACCESS_REQUESTED, EMERGENCY_ACCESS, RECORD_AMENDED})
_KIND_PB = {
    ACCESS_REQUESTED: pb.NOTICE_KIND_ACCESS_REQUESTED,
    EMERGENCY_ACCESS: pb.NOTICE_KIND_EMERGENCY_ACCESS,
    RECORD_AMENDED: pb.NOTICE_KIND_RECORD_AMENDED,
}
MAX_SUBJECT_CHARS = 64
NO_NOTICE = "no notice with this id"


def queue_notice(s: Session, patient_id: str, kind: str, subject_ref: str) -> PatientNotice:
    """Queues a notice of `kind` about the object `subject_ref` (its id) for the patient, in the
    caller's transaction: if that transaction rolls back, no notice was sent.

    Raises ValueError for a kind outside KINDS or a reference that is not a short id: both are
    the service's own mistakes, never a caller's."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    if not subject_ref or len(subject_ref) > MAX_SUBJECT_CHARS:
        raise ValueError("a notice names what it is about by an id of 1 to 64 characters")
    row = PatientNotice(notice_id=str(uuid.uuid4()), patient_id=patient_id, kind=kind, subject_ref=subject_ref,
                        created_ns=clock.now_ns())
    s.add(row)
    return row


def notices_page(s: Session, patient_id: str, unread_only: bool, size: int,
                 after: str) -> tuple[list[PatientNotice], str]:
    """One page of the patient's notices, oldest first, for the patient or a proxy with the
    read-history scope, and the next page's token ("" on the last page)."""
    acting_for(s, patient_id, READ_HISTORY)
    query = select(PatientNotice).where(PatientNotice.patient_id == patient_id)
    if unread_only:
        query = query.where(PatientNotice.read_ns.is_(None))
    if after:
        created, notice_id = _token_parts(after)
        query = query.where((PatientNotice.created_ns > created)
                            | ((PatientNotice.created_ns == created) & (PatientNotice.notice_id > notice_id)))
    rows = list(s.scalars(query.order_by(PatientNotice.created_ns, PatientNotice.notice_id).limit(size + 1)))
    page = rows[:size]
    return page, page_token(page[-1]) if len(rows) > size else ""


def mark_read(s: Session, patient_id: str, notice_ids: list[str]) -> list[PatientNotice]:
    """Marks the patient's notices read (those already read keep their first read time); a
    notice id that is not the patient's is NOT_FOUND, exactly as one that does not exist."""
    acting_for(s, patient_id, READ_HISTORY)
    rows = {r.notice_id: r for r in s.scalars(select(PatientNotice).where(
        PatientNotice.patient_id == patient_id, PatientNotice.notice_id.in_(notice_ids)))}
    if len(rows) != len(set(notice_ids)):
        raise NotFound(NO_NOTICE)
    now = clock.now_ns()
    for row in rows.values():
        row.read_ns = row.read_ns or now
    return [rows[i] for i in dict.fromkeys(notice_ids)]


def page_token(row: PatientNotice) -> str:
    return f"{row.created_ns:019d}:{row.notice_id}"


def _token_parts(token: str) -> tuple[int, str]:
    created, notice_id = token.split(":", 1)
    return int(created), notice_id


def notice_pb(row: PatientNotice) -> pb.PatientNotice:
    return pb.PatientNotice(notice_id=row.notice_id, patient_id=row.patient_id, kind=_KIND_PB[row.kind],
                            subject_ref=row.subject_ref, create_time=to_timestamp(row.created_ns),
                            read_time=to_timestamp(row.read_ns))
