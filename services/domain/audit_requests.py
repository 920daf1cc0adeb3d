"""Validation of AuditService requests, apart from the handlers.

A proof's sizes can only be checked against the ledger's size, so those functions take it; each
raises InvalidArgument naming the field and what was wanted, and returns the sizes to use.
"""

from __future__ import annotations

import re

from consentry.services.domain.validation import UUID, Violations
from consentry.services.identity.principals import Principal
from consentry.v1 import audit_pb2 as pb
from consentry.v1 import common_pb2

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def validate_list_entries(request: pb.ListEntriesRequest, principal: Principal) -> int:
    """The page size. A patient reads only entries about a patient they may act for, so names one."""
    v = Violations()
    v.page_size("page_size", request.page_size, MAX_PAGE)
    if principal.kind == "patient":
        v.person_id("patient_id", request.patient_id)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_export_audit_events(request: pb.ExportAuditEventsRequest) -> int:
    """The page size."""
    v = Violations()
    v.page_size("page_size", request.page_size, MAX_PAGE)
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_inclusion_proof(request: pb.GetInclusionProofRequest, ledger_size: int) -> int:
    """The tree size to prove inclusion in (by default the whole ledger)."""
    size = request.tree_size or ledger_size
    v = Violations()
    v.check(request.seq < size <= ledger_size, "seq",
            "must be below tree_size, which must not exceed the ledger size")
    v.raise_if_any()
    return size


def validate_consistency_proof(request: pb.GetConsistencyProofRequest, ledger_size: int) -> int:
    """The newer tree size (by default the whole ledger)."""
    new = request.new_size or ledger_size
    v = Violations()
    v.check(0 < request.old_size <= new <= ledger_size, "old_size",
            "must satisfy 0 < old_size <= new_size <= ledger size")
    v.raise_if_any()
    return new


# -- emergency accesses --------------------------------------------------------------------------

REVIEW_QUEUE_TOKEN = re.compile(r"[0-9]{19}:" + UUID.pattern)
OUTCOMES = {common_pb2.EMERGENCY_REVIEW_OUTCOME_JUSTIFIED: "justified",
            common_pb2.EMERGENCY_REVIEW_OUTCOME_NOT_JUSTIFIED: "not-justified",
            common_pb2.EMERGENCY_REVIEW_OUTCOME_REFERRED: "referred"}


def validate_list_emergency_accesses(request: pb.ListEmergencyAccessesRequest) -> int:
    """The page size."""
    v = Violations()
    v.page_size("page_size", request.page_size, MAX_PAGE)
    v.page_token("page_token", request.page_token, REVIEW_QUEUE_TOKEN)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_review_emergency_access(request: pb.ReviewEmergencyAccessRequest) -> str:
    """The outcome's name."""
    v = Violations()
    v.uuid("emergency_id", request.emergency_id)
    v.check(request.outcome in OUTCOMES, "outcome", "must be JUSTIFIED, NOT_JUSTIFIED or REFERRED")
    v.text("comment", request.comment)
    v.raise_if_any()
    return OUTCOMES[request.outcome]
