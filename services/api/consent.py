"""ConsentService: patients (and their proxies) give, narrow and revoke consent; institutions
ask for it; patients read who used their data."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.api.app import App
from consentry.services.api.watch import Watching
from consentry.services.domain import (
    access_history,
    access_requests,
    consent_changes,
    consent_preview,
    consent_receipts,
    emergencies,
    evidence_lookup,
    fhir_consent,
    metadata_reads,
    notices,
    privacy_notices,
    proxies,
)
from consentry.services.domain.consent_requests import (
    SCOPES,
    validate_add_proxy,
    validate_approve_access_request,
    validate_consent_lookup,
    validate_decline_access_request,
    validate_get_access_history,
    validate_get_consent_evidence,
    validate_get_emergency_access,
    validate_grant_consent,
    validate_import_notice,
    validate_list_access_requests,
    validate_list_consent_receipts,
    validate_list_consents,
    validate_list_notices,
    validate_list_proxies,
    validate_mark_notices_read,
    validate_narrow_consent,
    validate_preview_consent,
    validate_remove_proxy,
    validate_request_access,
    validate_request_lookup,
    validate_revoke_consent,
)
from consentry.services.domain.consents import consent_pb, terms_pb
from consentry.services.domain.paging import within_bytes
from consentry.services.domain.validation import to_timestamp
from consentry.services.identity.acting_for import READ_HISTORY, acting_for, proxy_active
from consentry.services.identity.principals import current_principal
from consentry.services.store.models import AccessRequest, Proxy
from consentry.v1 import consent_pb2 as pb
from consentry.v1 import consent_pb2_grpc

_REQUEST_STATUS_PB = {
    "pending": pb.ACCESS_REQUEST_STATUS_PENDING, "approved": pb.ACCESS_REQUEST_STATUS_APPROVED,
    "declined": pb.ACCESS_REQUEST_STATUS_DECLINED, "expired": pb.ACCESS_REQUEST_STATUS_EXPIRED,
}
_SCOPE_PB = {v: k for k, v in SCOPES.items()}


def _request_pb(row: AccessRequest, now_ns: int) -> pb.AccessRequest:
    return pb.AccessRequest(
        request_id=row.request_id, patient_id=row.patient_id, requester=row.requester,
        terms=terms_pb(row.terms), reason=row.reason, status=_REQUEST_STATUS_PB[access_requests.status_of(row, now_ns)],
        create_time=to_timestamp(row.created_ns), expire_time=to_timestamp(row.expire_ns),
        decide_time=to_timestamp(row.decided_ns), decline_reason=row.decline_reason or "",
        consent_id=row.consent_id or "", notice=privacy_notices.ref_pb(access_requests.notice_of(row)),
    )


def _proxy_pb(row: Proxy, now_ns: int) -> pb.Proxy:
    return pb.Proxy(
        patient_id=row.patient_id, proxy_id=row.proxy_id, scopes=[_SCOPE_PB[s] for s in row.scopes],
        relationship=row.relationship, create_time=to_timestamp(row.created_ns),
        expire_time=to_timestamp(row.expire_ns), active=proxy_active(row, now_ns),
    )


def _group_pb(group: consent_preview.Group) -> pb.PreviewGroup:
    return pb.PreviewGroup(category=group.category, holder=group.holder, purpose=group.purpose,
                           record_count=group.record_count, reasons=sorted(group.reasons))


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self, app: App, watching: Watching) -> None:
        self.app = app
        self.watching = watching

    # -- consents ---------------------------------------------------------------------------

    def GrantConsent(self, request: pb.GrantConsentRequest, context: grpc.ServicerContext) -> pb.GrantConsentResponse:
        terms, notice = validate_grant_consent(request)
        with self.app.db.write() as s:
            change = consent_changes.grant(s, self.app.trail, request.patient_id, request.grantee, terms, notice)
            return pb.GrantConsentResponse(consent=consent_pb(change.row), receipt=self._receipt(change))

    def NarrowConsent(self, request: pb.NarrowConsentRequest,
                      context: grpc.ServicerContext) -> pb.NarrowConsentResponse:
        terms = validate_narrow_consent(request)
        with self.app.db.write() as s:
            change = consent_changes.narrow(s, self.app.trail, request.consent_id, terms)
            return pb.NarrowConsentResponse(consent=consent_pb(change.row), receipt=self._receipt(change))

    def RevokeConsent(self, request: pb.RevokeConsentRequest,
                      context: grpc.ServicerContext) -> pb.RevokeConsentResponse:
        validate_revoke_consent(request)
        with self.app.db.write() as s:
            change = consent_changes.revoke(s, self.app.trail, request.consent_id, request.reason)
            return pb.RevokeConsentResponse(consent=consent_pb(change.row), receipt=self._receipt(change))

    def GetConsent(self, request: pb.GetConsentRequest, context: grpc.ServicerContext) -> pb.GetConsentResponse:
        validate_consent_lookup(request)
        with self.app.db.write() as s:
            rows = consent_changes.readable_versions(s, request.consent_id)
            self._ledger_read(s, metadata_reads.CONSENT, rows[-1].patient_id, len(rows))
            now = clock.now_ns()
            return pb.GetConsentResponse(consent=consent_pb(rows[-1], now), history=[consent_pb(r, now) for r in rows])

    def ListConsents(self, request: pb.ListConsentsRequest, context: grpc.ServicerContext) -> pb.ListConsentsResponse:
        size = validate_list_consents(request)
        now = clock.now_ns()
        with self.app.db.write() as s:
            page, token = consent_changes.consents_page(s, request.patient_id, request.include_inactive, size,
                                                        request.page_token, now)
            self._ledger_read(s, metadata_reads.CONSENTS, request.patient_id, len(page))
            return pb.ListConsentsResponse(consents=[consent_pb(r, now) for r in page], next_page_token=token)

    def ExportConsent(self, request: pb.ExportConsentRequest,
                      context: grpc.ServicerContext) -> pb.ExportConsentResponse:
        validate_consent_lookup(request)
        with self.app.db.write() as s:
            row = consent_changes.readable_latest(s, request.consent_id)
            self._ledger_read(s, metadata_reads.CONSENT_EXPORT, row.patient_id, 1)
            return pb.ExportConsentResponse(fhir_json=json.dumps(fhir_consent.to_fhir(row), separators=(",", ":")))

    def ImportConsent(self, request: pb.ImportConsentRequest,
                      context: grpc.ServicerContext) -> pb.ImportConsentResponse:
        doc = fhir_consent.parse_json(request.fhir_json)
        patient_id, grantee, terms = fhir_consent.from_fhir(doc)
        notice = validate_import_notice(request, fhir_consent.named_notice(doc))
        with self.app.db.write() as s:
            change = consent_changes.grant(s, self.app.trail, patient_id, grantee, terms, notice, source="fhir")
            return pb.ImportConsentResponse(consent=consent_pb(change.row), receipt=self._receipt(change))

    def GetConsentEvidence(self, request: pb.GetConsentEvidenceRequest,
                           context: grpc.ServicerContext) -> pb.GetConsentEvidenceResponse:
        after = validate_get_consent_evidence(request)
        with self.app.db.write() as s:
            if request.authorization:
                found = evidence_lookup.by_authorization(s, request.authorization)
                self._ledger_read(s, metadata_reads.CONSENT_EVIDENCE,
                                  evidence_lookup.patient_of_change(s, request.authorization), 1)
                return pb.GetConsentEvidenceResponse(evidence=[found])
            page, token = evidence_lookup.for_consent(s, request.consent_id, request.version, after)
            self._ledger_read(s, metadata_reads.CONSENT_EVIDENCE,
                              consent_changes.latest(s, request.consent_id).patient_id, len(page))
            return pb.GetConsentEvidenceResponse(evidence=page, next_page_token=token)

    def ListConsentReceipts(self, request: pb.ListConsentReceiptsRequest,
                            context: grpc.ServicerContext) -> pb.ListConsentReceiptsResponse:
        size, after = validate_list_consent_receipts(request)
        with self.app.db.write() as s:
            row = consent_changes.readable_latest(s, request.consent_id)
            page, token = consent_receipts.receipts_page(s, self.app.trail, self.app.share_signer, row.patient_id,
                                                         row.consent_id, after, size)
            self._ledger_read(s, metadata_reads.CONSENT_RECEIPTS, row.patient_id, len(page))
            return pb.ListConsentReceiptsResponse(receipts=page, next_page_token=token)

    def PreviewConsent(self, request: pb.PreviewConsentRequest,
                       context: grpc.ServicerContext) -> pb.PreviewConsentResponse:
        terms = validate_preview_consent(request)
        with self.app.db.write() as s:
            found = consent_preview.preview(s, self.app.trail, self.app.policy, request.patient_id, request.grantee,
                                            terms, request.role)
        return pb.PreviewConsentResponse(shared=[_group_pb(g) for g in found.shared],
                                         withheld=[_group_pb(g) for g in found.withheld], ledger_seq=found.ledger_seq)

    def _receipt(self, change: consent_changes.Change) -> pb.ConsentReceipt:
        return consent_receipts.receipt(self.app.share_signer, change.row, change.entry.seq, change.entry.entry_bytes,
                                        change.entry.leaf_hash)

    def _ledger_read(self, s: Session, read: str, patient_id: str, count: int) -> None:
        metadata_reads.ledger_read(s, self.app.trail, current_principal(), read, patient_id, count)

    # -- access requests --------------------------------------------------------------------

    def RequestAccess(self, request: pb.RequestAccessRequest,
                      context: grpc.ServicerContext) -> pb.RequestAccessResponse:
        principal = current_principal()
        principal.require("org")
        now = clock.now_ns()
        terms, expire, notice = validate_request_access(request, now)
        with self.app.db.write() as s:
            row = access_requests.request_access(s, self.app.trail, principal, request.patient_id, terms,
                                                 request.reason, now, expire, notice)
            return pb.RequestAccessResponse(request=_request_pb(row, now))

    def GetAccessRequest(self, request: pb.GetAccessRequestRequest,
                         context: grpc.ServicerContext) -> pb.GetAccessRequestResponse:
        validate_request_lookup(request)
        with self.app.db.write() as s:
            row = access_requests.readable_request(s, request.request_id)
            self._ledger_read(s, metadata_reads.ACCESS_REQUEST, row.patient_id, 1)
            return pb.GetAccessRequestResponse(request=_request_pb(row, clock.now_ns()))

    def ListAccessRequests(self, request: pb.ListAccessRequestsRequest,
                           context: grpc.ServicerContext) -> pb.ListAccessRequestsResponse:
        principal = current_principal()
        size = validate_list_access_requests(request, principal)
        now = clock.now_ns()
        with self.app.db.write() as s:
            rows = access_requests.visible_requests(s, principal, request.patient_id, request.page_token)
            # The filter is on the status as the caller reads it (a lapsed pending request is expired).
            found = [r for r in (_request_pb(r, now) for r in rows) if not request.status or r.status == request.status]
            token = found[size - 1].request_id if len(found) > size else ""
            if request.patient_id:
                self._ledger_read(s, metadata_reads.ACCESS_REQUESTS, request.patient_id, len(found[:size]))
            else:
                metadata_reads.ledger_read_many(s, self.app.trail, principal, metadata_reads.ACCESS_REQUESTS,
                                                [r.patient_id for r in found[:size]])
        return pb.ListAccessRequestsResponse(requests=found[:size], next_page_token=token)

    def ApproveAccessRequest(self, request: pb.ApproveAccessRequestRequest,
                             context: grpc.ServicerContext) -> pb.ApproveAccessRequestResponse:
        terms = validate_approve_access_request(request)
        with self.app.db.write() as s:
            row, change = access_requests.approve(s, self.app.trail, request.request_id, terms)
            return pb.ApproveAccessRequestResponse(request=_request_pb(row, clock.now_ns()),
                                                   consent=consent_pb(change.row), receipt=self._receipt(change))

    def DeclineAccessRequest(self, request: pb.DeclineAccessRequestRequest,
                             context: grpc.ServicerContext) -> pb.DeclineAccessRequestResponse:
        validate_decline_access_request(request)
        with self.app.db.write() as s:
            row = access_requests.decline(s, self.app.trail, request.request_id, request.reason)
            return pb.DeclineAccessRequestResponse(request=_request_pb(row, clock.now_ns()))

    # -- proxies ----------------------------------------------------------------------------

    def AddProxy(self, request: pb.AddProxyRequest, context: grpc.ServicerContext) -> pb.AddProxyResponse:
        now = clock.now_ns()
        scopes, expire = validate_add_proxy(request, now)
        with self.app.db.write() as s:
            row = proxies.add_proxy(s, self.app.trail, request.patient_id, request.proxy_id, scopes,
                                    request.relationship, now, expire)
            return pb.AddProxyResponse(proxy=_proxy_pb(row, now))

    def RemoveProxy(self, request: pb.RemoveProxyRequest, context: grpc.ServicerContext) -> pb.RemoveProxyResponse:
        validate_remove_proxy(request)
        now = clock.now_ns()
        with self.app.db.write() as s:
            row = proxies.remove_proxy(s, self.app.trail, request.patient_id, request.proxy_id, now)
            return pb.RemoveProxyResponse(proxy=_proxy_pb(row, now))

    def ListProxies(self, request: pb.ListProxiesRequest, context: grpc.ServicerContext) -> pb.ListProxiesResponse:
        validate_list_proxies(request)
        now = clock.now_ns()
        with self.app.db.write() as s:
            rows = proxies.proxies_of(s, request.patient_id)
            self._ledger_read(s, metadata_reads.PROXIES, request.patient_id, len(rows))
            return pb.ListProxiesResponse(proxies=[_proxy_pb(r, now) for r in rows])

    # -- access history ---------------------------------------------------------------------

    def GetAccessHistory(self, request: pb.GetAccessHistoryRequest,
                         context: grpc.ServicerContext) -> pb.GetAccessHistoryResponse:
        size, after = validate_get_access_history(request)
        with self.app.db.write() as s:
            acting_for(s, request.patient_id, READ_HISTORY)
            pseudonym = self.app.trail.known_pseudonym(s, request.patient_id)
            seqs = access_history.history_seqs(s, pseudonym, after, size + 1)
            events = access_history.access_events(s, seqs[:size])
            page = within_bytes(events, lambda event: event.ByteSize())
            self._ledger_read(s, metadata_reads.ACCESS_HISTORY, request.patient_id, len(page))
        more = bool(page) and (len(page) < len(events) or len(seqs) > size)
        return pb.GetAccessHistoryResponse(events=page, next_page_token=str(page[-1].ledger_seq) if more else "")

    # -- notices ----------------------------------------------------------------------------

    def ListNotices(self, request: pb.ListNoticesRequest, context: grpc.ServicerContext) -> pb.ListNoticesResponse:
        size = validate_list_notices(request)
        with self.app.db.write() as s:
            rows, token = notices.notices_page(s, request.patient_id, request.unread_only, size, request.page_token)
            self._ledger_read(s, metadata_reads.NOTICES, request.patient_id, len(rows))
            return pb.ListNoticesResponse(notices=[notices.notice_pb(r) for r in rows], next_page_token=token)

    def MarkNoticesRead(self, request: pb.MarkNoticesReadRequest,
                        context: grpc.ServicerContext) -> pb.MarkNoticesReadResponse:
        notice_ids = validate_mark_notices_read(request)
        with self.app.db.write() as s:
            rows = notices.mark_read(s, request.patient_id, notice_ids)
            return pb.MarkNoticesReadResponse(notices=[notices.notice_pb(r) for r in rows])

    # -- emergency accesses -----------------------------------------------------------------

    def GetEmergencyAccess(self, request: pb.GetEmergencyAccessRequest,
                           context: grpc.ServicerContext) -> pb.GetEmergencyAccessResponse:
        validate_get_emergency_access(request)
        with self.app.db.write() as s:
            row = emergencies.readable(s, request.emergency_id)
            self._ledger_read(s, metadata_reads.EMERGENCY_ACCESS, row.patient_id, 1)
            return pb.GetEmergencyAccessResponse(access=emergencies.access_pb(row, self.app.kek, clock.now_ns()))

    # -- live streams (api/watch.py) --------------------------------------------------------

    def WatchAccess(self, request: pb.WatchAccessRequest,
                    context: grpc.ServicerContext) -> Iterator[pb.WatchAccessResponse]:
        return self.watching.access(request, context)

    def WatchConsentChanges(self, request: pb.WatchConsentChangesRequest,
                            context: grpc.ServicerContext) -> Iterator[pb.WatchConsentChangesResponse]:
        return self.watching.consent_changes(request, context)
