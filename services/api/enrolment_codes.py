"""RegistryService's enrolment codes (docs/identity.md, "Enrolment codes"), apart from the rest
of the registry: CreateEnrolmentCode for the operator or an institution, RedeemEnrolmentCode for
a device with no registered key yet (the interceptor lets it through without a token, under its
own attempt limit per source)."""

from __future__ import annotations

import grpc

from consentry.services import clock
from consentry.services.api.app import App
from consentry.services.domain import enrolment_codes
from consentry.services.domain.registry_requests import (
    validate_create_enrolment_code,
    validate_redeem_enrolment_code,
)
from consentry.services.domain.validation import to_timestamp
from consentry.services.errors import PermissionDenied
from consentry.services.identity.principals import current_principal
from consentry.v1 import registry_pb2 as pb

# The one method served without a token: its caller proves possession of the key it registers.
REDEEM_METHOD = "/consentry.v1.RegistryService/RedeemEnrolmentCode"


class EnrolmentCodes:
    app: App

    def CreateEnrolmentCode(self, request: pb.CreateEnrolmentCodeRequest,
                            context: grpc.ServicerContext) -> pb.CreateEnrolmentCodeResponse:
        caller = current_principal()
        caller.require("operator", "org")
        identifiers = validate_create_enrolment_code(request)
        ttl_ns = int(self.app.settings.enrolment_code_ttl_s * 1_000_000_000)
        with self.app.db.write() as s:
            code, expire_ns = enrolment_codes.create(s, self.app.trail, caller, request.patient_id, identifiers,
                                                     clock.now_ns(), ttl_ns)
        return pb.CreateEnrolmentCodeResponse(code=code, expire_time=to_timestamp(expire_ns))

    def RedeemEnrolmentCode(self, request: pb.RedeemEnrolmentCodeRequest,
                            context: grpc.ServicerContext) -> pb.RedeemEnrolmentCodeResponse:
        code = validate_redeem_enrolment_code(request)
        if code is None:
            raise PermissionDenied(enrolment_codes.REFUSED)
        enrolment_codes.check_proof(code, request.identity_public_key, request.proof)
        with self.app.db.write() as s:
            patient_id, key_id = enrolment_codes.redeem(s, self.app.trail, code, request.identity_public_key,
                                                        clock.now_ns())
        return pb.RedeemEnrolmentCodeResponse(patient_id=patient_id, key_id=key_id)
