"""Validation of ConsentService requests, apart from the handlers.

Each function checks one request before anything is read or written, raises InvalidArgument
naming every offending field and what was wanted, and returns what the handler goes on with
(validated terms, a page size, an expiry). Checks that need stored state (narrowing against the
current terms) happen in the domain operation, inside its transaction.
"""

from __future__ import annotations

import re

from consentry.services.domain.consents import parse_terms
from consentry.services.domain.fhir_consent import notice_uri
from consentry.services.domain.privacy_notices import NoticeBinding, parse_ref
from consentry.services.domain.validation import UUID, Violations, timestamp_ns
from consentry.services.identity import staff
from consentry.services.identity.acting_for import MANAGE_CONSENTS, READ_HISTORY, REPORT_READINGS
from consentry.services.identity.principals import Principal
from consentry.v1 import consent_pb2 as pb

DAY_NS = 86_400 * 1_000_000_000
DEFAULT_PAGE = 100
# How long an access request stays pending: by default, and at most.
REQUEST_LIFETIME_NS = 14 * DAY_NS
MAX_REQUEST_LIFETIME_NS = 90 * DAY_NS
SCOPES = {pb.PROXY_SCOPE_MANAGE_CONSENTS: MANAGE_CONSENTS, pb.PROXY_SCOPE_READ_HISTORY: READ_HISTORY,
          pb.PROXY_SCOPE_REPORT_READINGS: REPORT_READINGS}
# Page tokens: a consent's "<id>:<version, 9 digits>"; a ledger seq in ASCII digits (isdigit()
# would take other scripts' digits too), short enough to be a database integer.
CONSENTS_TOKEN = re.compile(UUID.pattern + r":[0-9]{9}")
HISTORY_TOKEN = re.compile(r"[0-9]{1,18}")
# A ledger entry's `authorization`: SHA-256 of a call's token, in lowercase hex.
AUTHORIZATION = re.compile(r"[0-9a-f]{64}")

# -- consents ------------------------------------------------------------------------------------


def validate_grant_consent(request: pb.GrantConsentRequest) -> tuple[dict, NoticeBinding]:
    """The consent's terms and the privacy notice it is given under."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.institution_id("grantee", request.grantee)
    terms = parse_terms(v, "terms", request.terms)
    notice = parse_ref(v, "notice", request.notice, request.HasField("notice"))
    v.raise_if_any()
    assert notice is not None  # a missing or malformed notice is a violation, raised above
    return terms, notice


def validate_preview_consent(request: pb.PreviewConsentRequest) -> dict:
    """The proposed terms, checked exactly as GrantConsent checks them (same fields, same
    messages); the role, when given, must be a staff role."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.institution_id("grantee", request.grantee)
    terms = parse_terms(v, "terms", request.terms)
    v.check(not request.role or request.role in staff.STAFF_ROLES, "role",
            "must be empty or a staff role: " + ", ".join(sorted(staff.STAFF_ROLES)))
    v.raise_if_any()
    return terms


def validate_list_consent_receipts(request: pb.ListConsentReceiptsRequest) -> tuple[int, int]:
    """The page size, and the ledger seq the page starts after (-1: from the beginning)."""
    v = Violations()
    v.uuid("consent_id", request.consent_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, HISTORY_TOKEN)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE, int(request.page_token or -1)


def validate_import_notice(request: pb.ImportConsentRequest, named_in_resource: str | None) -> NoticeBinding:
    """The privacy notice an imported consent is given under: the one the request names, which
    must be the one the resource's `policy` names, if it names one."""
    v = Violations()
    notice = parse_ref(v, "notice", request.notice, request.HasField("notice"))
    if notice is not None and named_in_resource is not None:
        v.check(notice_uri(notice.notice_id, notice.version, notice.sha256) == named_in_resource, "notice",
                "must be the privacy notice the resource's policy names")
    v.raise_if_any()
    assert notice is not None
    return notice


def validate_narrow_consent(request: pb.NarrowConsentRequest) -> dict:
    """The narrower terms (whether they are narrower is checked against the stored consent)."""
    v = Violations()
    v.uuid("consent_id", request.consent_id)
    terms = parse_terms(v, "terms", request.terms)
    v.raise_if_any()
    return terms


def validate_revoke_consent(request: pb.RevokeConsentRequest) -> None:
    v = Violations()
    v.uuid("consent_id", request.consent_id)
    v.text("reason", request.reason)
    v.raise_if_any()


def validate_consent_lookup(request: pb.GetConsentRequest | pb.ExportConsentRequest) -> None:
    v = Violations()
    v.uuid("consent_id", request.consent_id)
    v.raise_if_any()


def validate_get_consent_evidence(request: pb.GetConsentEvidenceRequest) -> int:
    """The ledger seq the page starts after (-1: from the beginning)."""
    v = Violations()
    if request.authorization:
        v.check(not request.consent_id, "consent_id", "must be empty when authorization is given")
        v.check(bool(AUTHORIZATION.fullmatch(request.authorization)), "authorization",
                "must be 64 lowercase hex digits: a ledger entry's authorization")
        v.check(request.version == 0, "version", "must be 0 when authorization is given")
        v.check(not request.page_token, "page_token", "must be empty when authorization is given")
    else:
        v.uuid("consent_id", request.consent_id)
        v.check(request.version >= 0, "version", "must be 0 (every version) or a version number")
        v.page_token("page_token", request.page_token, HISTORY_TOKEN)
    v.raise_if_any()
    return int(request.page_token or -1)


def validate_list_consents(request: pb.ListConsentsRequest) -> int:
    """The page size."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, CONSENTS_TOKEN)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


# -- access requests -----------------------------------------------------------------------------


def validate_request_access(request: pb.RequestAccessRequest, now_ns: int) -> tuple[dict, int, NoticeBinding]:
    """The requested terms, when the request expires (by default in 14 days) and the notice the
    patient will be shown with it."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    terms = parse_terms(v, "terms", request.terms)
    notice = parse_ref(v, "notice", request.notice, request.HasField("notice"))
    v.text("reason", request.reason, required=True)
    expire = timestamp_ns(request.expire_time) if request.HasField("expire_time") else now_ns + REQUEST_LIFETIME_NS
    v.check(expire is not None and now_ns < expire <= now_ns + MAX_REQUEST_LIFETIME_NS, "expire_time",
            "must be in the future and at most 90 days away")
    v.raise_if_any()
    assert expire is not None and notice is not None  # checked above
    return terms, expire, notice


def validate_request_lookup(request: pb.GetAccessRequestRequest) -> None:
    v = Violations()
    v.uuid("request_id", request.request_id)
    v.raise_if_any()


def validate_list_access_requests(request: pb.ListAccessRequestsRequest, principal: Principal) -> int:
    """The page size. An institution lists its own requests, optionally for one patient; anyone
    else must name the patient."""
    v = Violations()
    if principal.kind != "org" or request.patient_id:
        v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, UUID)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_approve_access_request(request: pb.ApproveAccessRequestRequest) -> dict | None:
    """The terms the patient approves, or None to approve the requested terms as they are."""
    v = Violations()
    v.uuid("request_id", request.request_id)
    terms = parse_terms(v, "terms", request.terms) if request.HasField("terms") else None
    v.raise_if_any()
    return terms


def validate_decline_access_request(request: pb.DeclineAccessRequestRequest) -> None:
    v = Violations()
    v.uuid("request_id", request.request_id)
    v.text("reason", request.reason)
    v.raise_if_any()


# -- proxies -------------------------------------------------------------------------------------


def validate_add_proxy(request: pb.AddProxyRequest, now_ns: int) -> tuple[list[str], int | None]:
    """The proxy's scopes (sorted names) and when the proxy ends (None: until removed)."""
    v = Violations()
    _patient_and_proxy(v, request)
    v.check(request.proxy_id != request.patient_id, "proxy_id", "must name someone other than the patient")
    v.check(bool(request.scopes) and all(sc in SCOPES for sc in request.scopes), "scopes",
            "must name at least one of PROXY_SCOPE_MANAGE_CONSENTS, PROXY_SCOPE_READ_HISTORY, "
            "PROXY_SCOPE_REPORT_READINGS")
    v.text("relationship", request.relationship, required=True, limit=64)
    expire = timestamp_ns(request.expire_time) if request.HasField("expire_time") else None
    v.check(expire is None or expire > now_ns, "expire_time", "must be in the future")
    v.raise_if_any()
    return sorted({SCOPES[sc] for sc in request.scopes}), expire


def validate_remove_proxy(request: pb.RemoveProxyRequest) -> None:
    v = Violations()
    _patient_and_proxy(v, request)
    v.raise_if_any()


def validate_list_proxies(request: pb.ListProxiesRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()


def _patient_and_proxy(v: Violations, request: pb.AddProxyRequest | pb.RemoveProxyRequest) -> None:
    v.person_id("patient_id", request.patient_id)
    v.person_id("proxy_id", request.proxy_id)


# -- access history ------------------------------------------------------------------------------


def validate_get_access_history(request: pb.GetAccessHistoryRequest) -> tuple[int, int]:
    """The page size, and the ledger seq the page starts after (-1: from the beginning)."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, HISTORY_TOKEN)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE, int(request.page_token or -1)


# -- notices -------------------------------------------------------------------------------------

NOTICES_TOKEN = re.compile(r"[0-9]{19}:" + UUID.pattern)


def validate_list_notices(request: pb.ListNoticesRequest) -> int:
    """The page size."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, NOTICES_TOKEN)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_mark_notices_read(request: pb.MarkNoticesReadRequest) -> list[str]:
    """The notice ids, as given."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.check(bool(request.notice_ids), "notice_ids", "must name at least one notice")
    for i, notice_id in enumerate(request.notice_ids):
        v.uuid(f"notice_ids[{i}]", notice_id)
    v.raise_if_any()
    return list(request.notice_ids)


def validate_get_emergency_access(request: pb.GetEmergencyAccessRequest) -> None:
    v = Violations()
    v.uuid("emergency_id", request.emergency_id)
    v.raise_if_any()


# -- live streams --------------------------------------------------------------------------------


def validate_watch_access(request: pb.WatchAccessRequest) -> None:
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.raise_if_any()
