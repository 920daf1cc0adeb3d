"""Validation of ExchangeService requests, apart from the handlers.

Each function checks one request before anything is read or written, raises InvalidArgument
naming every offending field and what was wanted, and returns what the handler goes on with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consentry.services.domain import readings
from consentry.services.domain.records import Deposit, DepositRules, read_deposit
from consentry.services.domain.references import PatientIdentity
from consentry.services.domain.validation import RESEARCH_PURPOSES, SUBJECT_ID, UUID, Violations
from consentry.v1 import exchange_pb2 as pb

DEFAULT_PAGE = 100


@dataclass(frozen=True)
class Fetch:
    """A validated FetchRecords request: whose records, why, and which of them.

    A research fetch names `subject_id` and no patient; `patient_id` is empty until the subject
    is resolved inside the fetch's transaction (domain/research_subjects.py)."""

    patient_id: str
    purpose: str
    categories: tuple[str, ...]
    record_ids: tuple[str, ...]
    emergency: bool
    justification: str
    # Chosen by the client, fresh per fetch; every package of the response carries it.
    nonce: bytes
    subject_id: str = ""


def validate_put_record(request: pb.PutRecordRequest, body_limit: int, rules: DepositRules,
                        identity_of: Callable[[str], PatientIdentity]) -> Deposit:
    """The deposit's metadata, derived from its FHIR body of at most `body_limit` bytes;
    `identity_of` tells the valid patient id's enrolled identifiers."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()
    return read_deposit(identity_of(request.patient_id), request.fhir_json, list(request.labels), request.category,
                        body_limit, rules)


def validate_put_observation(request: pb.PutObservationRequest, body_limit: int, rules: DepositRules,
                             identity_of: Callable[[str], PatientIdentity], now_ns: int) -> tuple[bytes, Deposit]:
    """A home reading (docs/readings.md): the body as it is filed, stamped patient-reported, and
    its deposit metadata; then checked as any deposit is."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()
    body = v.json_object("fhir_json", request.fhir_json, limit=body_limit, what="a FHIR R4 Observation")
    readings.check_reading(v, body, request.patient_id, now_ns)
    v.raise_if_any()
    filed = readings.stamped(body, request.patient_id)
    # The stamp adds a few hundred bytes to a body within the limit; it may pass the limit by that.
    return filed, read_deposit(identity_of(request.patient_id), filed, [], "", body_limit + 1024, rules)


def validate_list_records(request: pb.ListRecordsRequest) -> int:
    """The page size."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, UUID)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_fetch_records(request: pb.FetchRecordsRequest) -> Fetch:
    v = Violations()
    # Research is pseudonymised: it names a consent's research subject, never the patient.
    research = ", ".join(RESEARCH_PURPOSES)
    if request.purpose in RESEARCH_PURPOSES:
        v.check(not request.patient_id, "patient_id",
                f"must be empty for research ({research}): name the research subject with subject_id")
        v.check(bool(SUBJECT_ID.fullmatch(request.subject_id)), "subject_id",
                f"must be the subject_id of a research consent (32 lower-case hex digits) for research ({research})")
    else:
        v.person_id("patient_id", request.patient_id)
        v.check(not request.subject_id, "subject_id", f"is only for research ({research})")
    v.purpose("purpose", request.purpose)
    v.categories("categories", request.categories)
    for i, record_id in enumerate(request.record_ids):
        v.uuid(f"record_ids[{i}]", record_id)
    if request.emergency.declared:
        v.text("emergency.justification", request.emergency.justification, required=True)
        v.check(request.purpose == "ETREAT", "purpose", "must be ETREAT when an emergency is declared")
    v.fetch_nonce("nonce", request.nonce)
    v.raise_if_any()
    return Fetch(request.patient_id, request.purpose, tuple(request.categories), tuple(request.record_ids),
                 request.emergency.declared, request.emergency.justification, request.nonce, request.subject_id)


def validate_erase_record(request: pb.EraseRecordRequest) -> None:
    v = Violations()
    v.uuid("record_id", request.record_id)
    v.text("reason", request.reason, required=True)
    v.raise_if_any()
