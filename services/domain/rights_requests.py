"""Validation of RightsService requests, apart from the handlers.

Each function checks one request before anything is read or written, raises InvalidArgument
naming every offending field and what was wanted, and returns what the handler goes on with.
"""

from __future__ import annotations

import re

from consentry.services.domain.rights_deadlines import CORRECTION_REASONS, EVIDENCE_TYPES, REFUSAL_REASONS
from consentry.services.domain.validation import UUID, Violations, timestamp_ns
from consentry.v1 import rights_pb2 as pb

DEFAULT_PAGE = 100
TYPES = {pb.RIGHTS_REQUEST_TYPE_ACCESS: "access", pb.RIGHTS_REQUEST_TYPE_CORRECTION: "correction",
         pb.RIGHTS_REQUEST_TYPE_ERASURE: "erasure", pb.RIGHTS_REQUEST_TYPE_RESTRICTION: "restriction",
         pb.RIGHTS_REQUEST_TYPE_OBJECTION: "objection"}
STATUSES = {pb.RIGHTS_REQUEST_STATUS_RECEIVED: "received", pb.RIGHTS_REQUEST_STATUS_IN_PROGRESS: "in-progress",
            pb.RIGHTS_REQUEST_STATUS_EXTENDED: "extended", pb.RIGHTS_REQUEST_STATUS_COMPLETED: "completed",
            pb.RIGHTS_REQUEST_STATUS_REFUSED: "refused"}
BASES = {pb.REPRESENTATIVE_BASIS_GUARDIAN: "guardian", pb.REPRESENTATIVE_BASIS_NEXT_OF_KIN: "next-of-kin"}
# An export page token: the last record id exported.
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILED_HERE = ("erasure", "restriction", "objection", "access")


def validate_export_records(request: pb.ExportRecordsRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.page_token("page_token", request.page_token, UUID)
    v.raise_if_any()


def validate_file_rights_request(request: pb.FileRightsRequestRequest) -> str:
    """The request's type."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    kind = TYPES.get(request.type)
    v.check(kind in _FILED_HERE, "type", "must be ACCESS, ERASURE, RESTRICTION or OBJECTION "
                                         "(a correction is filed with FileCorrection)")
    if request.holder:
        v.institution_id("holder", request.holder)
    v.raise_if_any()
    assert kind is not None
    return kind


def validate_list_rights_requests(request: pb.ListRightsRequestsRequest) -> int:
    """The page size."""
    v = Violations()
    if request.patient_id:
        v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, UUID)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_update_rights_request(request: pb.UpdateRightsRequestRequest) -> str:
    """The new status."""
    v = Violations()
    v.uuid("request_id", request.request_id)
    status = STATUSES.get(request.status)
    v.check(status not in (None, "received"), "status", "must be IN_PROGRESS, EXTENDED, COMPLETED or REFUSED")
    _refusal(v, status == "refused", request.refusal_reason, request.explanation)
    v.raise_if_any()
    assert status is not None
    return status


def validate_file_correction(request: pb.FileCorrectionRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.uuid("record_id", request.record_id)
    v.check(request.reason in CORRECTION_REASONS, "reason", "must be one of " + ", ".join(sorted(CORRECTION_REASONS)))
    v.text("text", request.text, required=request.reason == "other")
    v.raise_if_any()


def validate_answer_correction(request: pb.AnswerCorrectionRequest) -> None:
    """The amended body itself is read as a deposit (record_requests.validate_put_record)."""
    v = Violations()
    v.uuid("request_id", request.request_id)
    if request.accept:
        v.check(bool(request.fhir_json), "fhir_json", "is required to accept: the amended record")
        v.check(not request.refusal_reason, "refusal_reason", "must be empty when accepting")
    else:
        v.check(not request.fhir_json, "fhir_json", "must be empty when denying")
    _refusal(v, not request.accept, request.refusal_reason, request.explanation)
    v.raise_if_any()


def validate_establish_representative(request: pb.EstablishRepresentativeRequest,
                                      now_ns: int) -> tuple[str, int | None]:
    """The basis ("guardian" or "next-of-kin") and when the representation ends, if it does."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.person_id("representative_id", request.representative_id)
    v.check(request.patient_id != request.representative_id, "representative_id", "must not be the patient")
    basis = BASES.get(request.basis)
    if v.check(basis is not None, "basis", "must be GUARDIAN or NEXT_OF_KIN"):
        assert basis is not None
        allowed = EVIDENCE_TYPES[basis]
        v.check(request.evidence_type in allowed, "evidence_type", "must be one of " + ", ".join(sorted(allowed)))
    v.check(bool(_SHA256.fullmatch(request.evidence_hash)), "evidence_hash", "must be 64 lower-case hex digits")
    end = timestamp_ns(request.end_time) if request.HasField("end_time") else None
    v.check(end is None or end > now_ns, "end_time", "must be in the future")
    v.raise_if_any()
    assert basis is not None
    return basis, end


def validate_representative_lookup(request: pb.EndRepresentativeRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.person_id("representative_id", request.representative_id)
    v.raise_if_any()


def validate_list_representatives(request: pb.ListRepresentativesRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()


def validate_list_recipient_notices(request: pb.ListRecipientNoticesRequest) -> int:
    v = Violations()
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, UUID)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def _refusal(v: Violations, refused: bool, reason: str, explanation: str) -> None:
    if refused:
        v.check(reason in REFUSAL_REASONS, "refusal_reason", "must be one of " + ", ".join(sorted(REFUSAL_REASONS)))
        v.text("explanation", explanation, required=reason == "other")
    else:
        v.check(not reason, "refusal_reason", "is only for a refusal")
        v.text("explanation", explanation)
