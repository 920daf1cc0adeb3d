"""RightsService: a patient's copy of their records, corrections, the rights-request tracker and
the representatives who may act for a patient (docs/rights.md)."""

from __future__ import annotations

import grpc

from consentry.services import clock
from consentry.services.api.app import App
from consentry.services.domain import (
    corrections,
    deposits,
    metadata_reads,
    patient_identifiers,
    representatives,
    rights_tracker,
)
from consentry.services.domain.record_requests import validate_put_record
from consentry.services.domain.references import PatientIdentity
from consentry.services.domain.rights_export import export_page
from consentry.services.domain.rights_requests import (
    BASES,
    STATUSES,
    TYPES,
    validate_answer_correction,
    validate_establish_representative,
    validate_export_records,
    validate_file_correction,
    validate_file_rights_request,
    validate_list_recipient_notices,
    validate_list_representatives,
    validate_list_rights_requests,
    validate_representative_lookup,
    validate_update_rights_request,
)
from consentry.services.domain.validation import to_timestamp
from consentry.services.identity.acting_for import representative_active
from consentry.services.identity.principals import current_principal
from consentry.services.store.models import RecipientNotice, Representative, RightsRequest
from consentry.v1 import exchange_pb2, rights_pb2_grpc
from consentry.v1 import rights_pb2 as pb

_TYPE_PB = {v: k for k, v in TYPES.items()}
_STATUS_PB = {v: k for k, v in STATUSES.items()}
_BASIS_PB = {v: k for k, v in BASES.items()}


class RightsServicer(rights_pb2_grpc.RightsServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def _request_pb(self, row: RightsRequest) -> pb.RightsRequest:
        correction, explanation = rights_tracker.texts(row, self.app.kek)
        return pb.RightsRequest(
            request_id=row.request_id, patient_id=row.patient_id, type=_TYPE_PB[row.type], holder=row.holder or "",
            record_id=row.record_id or "", receive_time=to_timestamp(row.received_ns),
            deadline_time=to_timestamp(row.deadline_ns), deadline_basis=row.deadline_basis,
            status=_STATUS_PB[row.status], update_time=to_timestamp(row.updated_ns),
            refusal_reason=row.refusal_reason or "", explanation=explanation,
            correction_reason=row.correction_reason or "", correction_text=correction,
            amendment_record_id=row.amendment_record_id or "", filed_by=row.filed_by,
        )

    # -- export -----------------------------------------------------------------------------

    def ExportRecords(self, request: pb.ExportRecordsRequest,
                      context: grpc.ServicerContext) -> pb.ExportRecordsResponse:
        validate_export_records(request)
        app = self.app
        with app.db.write() as s:
            page = export_page(s, app.trail, app.kek, app.share_signer, request.patient_id, request.page_token,
                               app.settings.max_body_bytes)
            sealed = page.sealed
            return pb.ExportRecordsResponse(
                export=pb.SealedExport(header=sealed.header, ciphertext=sealed.ciphertext,
                                       sealed_key=sealed.sealed_key, signature=sealed.signature),
                record_count=page.records, next_page_token=page.next_token, request=self._request_pb(page.request),
                ledger_seq=page.ledger_seq)

    # -- the tracker ------------------------------------------------------------------------

    def FileRightsRequest(self, request: pb.FileRightsRequestRequest,
                          context: grpc.ServicerContext) -> pb.FileRightsRequestResponse:
        kind = validate_file_rights_request(request)
        with self.app.db.write() as s:
            row = rights_tracker.file_request(s, self.app.trail, request.patient_id, kind, request.holder or None)
            return pb.FileRightsRequestResponse(request=self._request_pb(row))

    def ListRightsRequests(self, request: pb.ListRightsRequestsRequest,
                           context: grpc.ServicerContext) -> pb.ListRightsRequestsResponse:
        size = validate_list_rights_requests(request)
        principal = current_principal()
        with self.app.db.write() as s:
            rows, token = rights_tracker.requests_page(s, request.patient_id, size, request.page_token)
            if request.patient_id:
                metadata_reads.ledger_read(s, self.app.trail, principal, metadata_reads.RIGHTS_REQUESTS,
                                           request.patient_id, len(rows))
            else:
                metadata_reads.ledger_read_many(s, self.app.trail, principal, metadata_reads.RIGHTS_REQUESTS,
                                                [r.patient_id for r in rows])
            return pb.ListRightsRequestsResponse(requests=[self._request_pb(r) for r in rows], next_page_token=token)

    def UpdateRightsRequest(self, request: pb.UpdateRightsRequestRequest,
                            context: grpc.ServicerContext) -> pb.UpdateRightsRequestResponse:
        status = validate_update_rights_request(request)
        with self.app.db.write() as s:
            row = rights_tracker.move_on(s, self.app.trail, self.app.kek, request.request_id, status,
                                         request.refusal_reason, request.explanation)
            return pb.UpdateRightsRequestResponse(request=self._request_pb(row))

    # -- corrections ------------------------------------------------------------------------

    def FileCorrection(self, request: pb.FileCorrectionRequest,
                       context: grpc.ServicerContext) -> pb.FileCorrectionResponse:
        validate_file_correction(request)
        with self.app.db.write() as s:
            row = corrections.file_correction(s, self.app.trail, self.app.kek, request.patient_id, request.record_id,
                                              request.reason, request.text)
            return pb.FileCorrectionResponse(request=self._request_pb(row))

    def AnswerCorrection(self, request: pb.AnswerCorrectionRequest,
                         context: grpc.ServicerContext) -> pb.AnswerCorrectionResponse:
        validate_answer_correction(request)
        holder = current_principal()
        app = self.app
        amended = None
        if request.accept:
            with app.db.read() as s:
                patient_id = corrections.pending_correction(s, request.request_id, holder).patient_id
            deposit = validate_put_record(exchange_pb2.PutRecordRequest(patient_id=patient_id,
                                                                        fhir_json=request.fhir_json),
                                          app.settings.max_body_bytes, app.deposit_rules, self._identity)
            amended = deposits.seal_deposit(holder.name, patient_id, request.fhir_json, deposit, app.kek,
                                            app.trail.pseudonym_key)
        with app.db.write() as s:
            row = corrections.pending_correction(s, request.request_id, holder)
            notified = 0
            if amended is not None:
                notified = corrections.accept(s, app.trail, app.kek, row, holder, amended)
            else:
                corrections.deny(s, app.trail, app.kek, row, holder, request.refusal_reason, request.explanation)
            return pb.AnswerCorrectionResponse(request=self._request_pb(row), notified=notified)

    def _identity(self, patient_id: str) -> PatientIdentity:
        with self.app.db.read() as s:
            hashes = patient_identifiers.enrolled_hashes(s, patient_id)
        return PatientIdentity(patient_id, hashes, self.app.trail.pseudonym_key)

    def ListRecipientNotices(self, request: pb.ListRecipientNoticesRequest,
                             context: grpc.ServicerContext) -> pb.ListRecipientNoticesResponse:
        size = validate_list_recipient_notices(request)
        with self.app.db.read() as s:
            rows, token = corrections.notices_page(s, current_principal(), size, request.page_token)
            return pb.ListRecipientNoticesResponse(notices=[_notice_pb(r) for r in rows], next_page_token=token)

    # -- representatives --------------------------------------------------------------------

    def EstablishRepresentative(self, request: pb.EstablishRepresentativeRequest,
                                context: grpc.ServicerContext) -> pb.EstablishRepresentativeResponse:
        basis, end = validate_establish_representative(request, clock.now_ns())
        with self.app.db.write() as s:
            row, seq = representatives.establish(s, self.app.trail, current_principal(), request.patient_id,
                                                 request.representative_id, basis, request.evidence_type,
                                                 request.evidence_hash, end)
            return pb.EstablishRepresentativeResponse(representative=_representative_pb(row), ledger_seq=seq)

    def EndRepresentative(self, request: pb.EndRepresentativeRequest,
                          context: grpc.ServicerContext) -> pb.EndRepresentativeResponse:
        validate_representative_lookup(request)
        with self.app.db.write() as s:
            row = representatives.end(s, self.app.trail, current_principal(), request.patient_id,
                                      request.representative_id)
            return pb.EndRepresentativeResponse(representative=_representative_pb(row))

    def ListRepresentatives(self, request: pb.ListRepresentativesRequest,
                            context: grpc.ServicerContext) -> pb.ListRepresentativesResponse:
        validate_list_representatives(request)
        with self.app.db.write() as s:
            rows = representatives.of_patient(s, request.patient_id)
            metadata_reads.ledger_read(s, self.app.trail, current_principal(), metadata_reads.REPRESENTATIVES,
                                       request.patient_id, len(rows))
            return pb.ListRepresentativesResponse(representatives=[_representative_pb(r) for r in rows])


def _notice_pb(row: RecipientNotice) -> pb.RecipientNotice:
    return pb.RecipientNotice(notice_id=row.notice_id, kind=row.kind, record_id=row.record_id,
                              amendment_record_id=row.amendment_record_id, create_time=to_timestamp(row.created_ns))


def _representative_pb(row: Representative) -> pb.Representative:
    return pb.Representative(
        patient_id=row.patient_id, representative_id=row.representative_id, basis=_BASIS_PB[row.basis],
        evidence_type=row.evidence_type, evidence_hash=row.evidence_hash,
        create_time=to_timestamp(row.created_ns), end_time=to_timestamp(row.end_ns),
        active=representative_active(row, clock.now_ns()),
    )
