"""RegistryService: institutions, their keys and practitioners, patients, auditors, the service's
own keys."""

from __future__ import annotations

from typing import cast

import grpc
from sqlalchemy.orm import Session

from consentry.services.api.app import App
from consentry.services.api.enrolment_codes import EnrolmentCodes
from consentry.services.clock import rfc3339
from consentry.services.crypto.key_chain import SHARE_SIGNING
from consentry.services.domain import enrolment, practitioners, privacy_notices, service_keys
from consentry.services.domain.registry_requests import (
    validate_enroll_auditor,
    validate_enroll_patient,
    validate_get_privacy_notice,
    validate_institution_id,
    validate_list_institutions,
    validate_list_practitioners,
    validate_publish_privacy_notice,
    validate_register_institution,
    validate_register_practitioner,
    validate_remove_practitioner,
    validate_revoke_institution_key,
    validate_rotate_institution_key,
)
from consentry.services.domain.validation import to_timestamp
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.models import Practitioner, PrincipalKey, PrivacyNotice, ServiceSigningKey
from consentry.v1 import common_pb2, registry_pb2_grpc
from consentry.v1 import registry_pb2 as pb

_STATUS = {"current": pb.KEY_STATUS_CURRENT, "retired": pb.KEY_STATUS_RETIRED, "revoked": pb.KEY_STATUS_REVOKED}


class RegistryServicer(EnrolmentCodes, registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def RegisterInstitution(self, request: pb.RegisterInstitutionRequest,
                            context: grpc.ServicerContext) -> pb.RegisterInstitutionResponse:
        operator = current_principal()
        operator.require("operator")
        validate_register_institution(request)
        with self.app.db.write() as s:
            enrolment.register_institution(s, self.app.trail, operator, request.institution_id, request.display_name,
                                           request.kind, request.identity_public_key, request.encryption_public_key,
                                           request.part2_program)
            return pb.RegisterInstitutionResponse(institution=_institution(s, request.institution_id))

    def GetInstitution(self, request: pb.GetInstitutionRequest,
                       context: grpc.ServicerContext) -> pb.GetInstitutionResponse:
        validate_institution_id(request.institution_id)
        with self.app.db.read() as s:
            return pb.GetInstitutionResponse(institution=_institution(s, request.institution_id))

    def ListInstitutions(self, request: pb.ListInstitutionsRequest,
                         context: grpc.ServicerContext) -> pb.ListInstitutionsResponse:
        size = validate_list_institutions(request)
        with self.app.db.read() as s:
            ids, token = enrolment.institution_ids_page(s, size, request.page_token)
            page = [_institution(s, i) for i in ids]
        return pb.ListInstitutionsResponse(institutions=page, next_page_token=token)

    def RotateInstitutionKey(self, request: pb.RotateInstitutionKeyRequest,
                             context: grpc.ServicerContext) -> pb.RotateInstitutionKeyResponse:
        manager = _key_manager(request.institution_id)
        key_type = validate_rotate_institution_key(request)
        with self.app.db.write() as s:
            enrolment.rotate_key(s, self.app.trail, manager, request.institution_id, key_type, request.public_key)
            return pb.RotateInstitutionKeyResponse(institution=_institution(s, request.institution_id))

    def RevokeInstitutionKey(self, request: pb.RevokeInstitutionKeyRequest,
                             context: grpc.ServicerContext) -> pb.RevokeInstitutionKeyResponse:
        manager = _key_manager(request.institution_id)
        validate_revoke_institution_key(request)
        with self.app.db.write() as s:
            enrolment.revoke_key(s, self.app.trail, manager, request.institution_id, request.key_id)
            return pb.RevokeInstitutionKeyResponse(institution=_institution(s, request.institution_id))

    def RegisterPractitioner(self, request: pb.RegisterPractitionerRequest,
                             context: grpc.ServicerContext) -> pb.RegisterPractitionerResponse:
        manager = _staff_manager(request.institution_id)
        roles = validate_register_practitioner(request)
        with self.app.db.write() as s:
            row = practitioners.register(s, self.app.trail, manager, request.institution_id,
                                         request.practitioner_id, roles)
            return pb.RegisterPractitionerResponse(practitioner=_practitioner(row))

    def RemovePractitioner(self, request: pb.RemovePractitionerRequest,
                           context: grpc.ServicerContext) -> pb.RemovePractitionerResponse:
        manager = _staff_manager(request.institution_id)
        validate_remove_practitioner(request)
        with self.app.db.write() as s:
            row = practitioners.remove(s, self.app.trail, manager, request.institution_id, request.practitioner_id)
            return pb.RemovePractitionerResponse(practitioner=_practitioner(row))

    def ListPractitioners(self, request: pb.ListPractitionersRequest,
                          context: grpc.ServicerContext) -> pb.ListPractitionersResponse:
        _staff_manager(request.institution_id)
        size = validate_list_practitioners(request)
        with self.app.db.read() as s:
            rows, token = practitioners.practitioners_page(s, request.institution_id, size, request.page_token)
            return pb.ListPractitionersResponse(practitioners=[_practitioner(r) for r in rows],
                                                next_page_token=token)

    def EnrollPatient(self, request: pb.EnrollPatientRequest,
                      context: grpc.ServicerContext) -> pb.EnrollPatientResponse:
        operator = current_principal()
        operator.require("operator")
        identifiers = validate_enroll_patient(request)
        with self.app.db.write() as s:
            key_id = enrolment.enroll_patient(s, self.app.trail, operator, request.patient_id,
                                              request.identity_public_key, identifiers)
        return pb.EnrollPatientResponse(patient_id=request.patient_id, key_id=key_id)

    def EnrollAuditor(self, request: pb.EnrollAuditorRequest,
                      context: grpc.ServicerContext) -> pb.EnrollAuditorResponse:
        operator = current_principal()
        operator.require("operator")
        validate_enroll_auditor(request)
        with self.app.db.write() as s:
            key_id = enrolment.enroll_auditor(s, self.app.trail, operator, request.auditor_id,
                                              request.identity_public_key)
        return pb.EnrollAuditorResponse(auditor_id=request.auditor_id, key_id=key_id)

    def GetServiceKeys(self, request: pb.GetServiceKeysRequest,
                       context: grpc.ServicerContext) -> pb.GetServiceKeysResponse:
        with self.app.db.read() as s:
            history = [_service_key_pb(row) for row in service_keys.listing(s, SHARE_SIGNING)]
        return pb.GetServiceKeysResponse(
            share_signing_public_key=bytes(self.app.share_signer.verify_key),
            ledger_verifier_key=self.app.ledger_verifier_key,
            ledger_origin=self.app.settings.ledger_origin,
            share_signing_keys=history,
        )


    def PublishPrivacyNotice(self, request: pb.PublishPrivacyNoticeRequest,
                             context: grpc.ServicerContext) -> pb.PublishPrivacyNoticeResponse:
        # Publishing a notice is the institution's own statement, as its keys are: the same callers.
        publisher = _key_manager(request.institution_id)
        purposes, categories, texts = validate_publish_privacy_notice(request)
        with self.app.db.write() as s:
            row = privacy_notices.publish(s, self.app.trail, publisher, request.institution_id, request.notice_id,
                                          purposes, categories, texts)
            return pb.PublishPrivacyNoticeResponse(notice=_notice_pb(row), ref=_ref_pb(row))

    def GetPrivacyNotice(self, request: pb.GetPrivacyNoticeRequest,
                         context: grpc.ServicerContext) -> pb.GetPrivacyNoticeResponse:
        validate_get_privacy_notice(request)
        with self.app.db.read() as s:
            row = privacy_notices.version_of(s, request.notice_id, request.version)
            return pb.GetPrivacyNoticeResponse(notice=_notice_pb(row), ref=_ref_pb(row))


def _notice_pb(row: PrivacyNotice) -> pb.PrivacyNotice:
    doc = row.document
    return pb.PrivacyNotice(
        notice_id=row.notice_id, version=row.version, institution_id=row.institution_id, purposes=doc["purposes"],
        categories=doc["categories"], texts=[pb.NoticeText(**t) for t in doc["texts"]],
        publish_time=to_timestamp(row.created_ns), content_hash=bytes.fromhex(row.content_hash),
    )


def _ref_pb(row: PrivacyNotice) -> common_pb2.NoticeRef:
    return common_pb2.NoticeRef(notice_id=row.notice_id, version=row.version,
                                content_hash=bytes.fromhex(row.content_hash))


def _key_manager(institution_id: str) -> Principal:
    """The caller, if it may manage the institution's keys: the operator or the institution."""
    principal = current_principal()
    principal.require("operator", "org")
    validate_institution_id(institution_id)
    enrolment.require_key_manager(principal, institution_id)
    return principal


def _staff_manager(institution_id: str) -> Principal:
    """The caller, if it may manage the institution's practitioners: the operator or the institution."""
    principal = current_principal()
    principal.require("operator", "org")
    validate_institution_id(institution_id)
    practitioners.require_staff_manager(principal, institution_id)
    return principal


def _practitioner(row: Practitioner) -> pb.Practitioner:
    return pb.Practitioner(
        institution_id=row.institution_id, practitioner_id=row.practitioner_id, roles=list(row.roles),
        register_time=to_timestamp(row.registered_ns), remove_time=to_timestamp(row.removed_ns),
    )


def _institution(s: Session, institution_id: str) -> pb.Institution:
    inst, keys = enrolment.institution_keys(s, institution_id)
    # The column holds the enum's number, which registration checked is an InstitutionKind.
    kind = cast(pb.InstitutionKind, inst.kind)
    return pb.Institution(
        institution_id=inst.institution_id, display_name=inst.display_name, kind=kind,
        create_time=to_timestamp(inst.created_ns),
        keys=[_key_pb(k) for k in keys], part2_program=inst.part2_program,
    )


def _key_pb(key: PrincipalKey) -> pb.PublicKey:
    return pb.PublicKey(
        key_id=key.key_id, type=pb.KEY_TYPE_IDENTITY if key.key_type == "identity" else pb.KEY_TYPE_ENCRYPTION,
        public_key=key.public_key, status=_STATUS[key.status], create_time=to_timestamp(key.created_ns),
    )


def _service_key_pb(row: ServiceSigningKey) -> pb.ServiceSigningKey:
    return pb.ServiceSigningKey(
        purpose=row.purpose, key_id=row.key_id, public_key=row.public_key, status=row.status,
        valid_from=rfc3339(row.valid_from_ns), retired_at=rfc3339(row.retired_ns) if row.retired_ns else "",
        revoked_from=rfc3339(row.revoked_from_ns) if row.revoked_from_ns is not None else "",
        statement=row.statement or b"", old_signature=row.old_signature or b"", new_signature=row.new_signature or b"")
