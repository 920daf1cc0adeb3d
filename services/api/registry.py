"""RegistryService: institutions and their keys, patients, auditors, the service's own keys."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentry.services.api.app import App
from consentry.services.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from consentry.services.store.models import Auditor, Institution, Person, PrincipalKey
from consentry.services.identity.principals import current_principal
from consentry.services.crypto.share import recipient_key_id
from consentry.services.identity.tokens import identity_key_id
from consentry.services.domain.validation import Violations, to_timestamp
from consentry.v1 import registry_pb2 as pb
from consentry.v1 import registry_pb2_grpc

_KEY_TYPES = {pb.KEY_TYPE_IDENTITY: "identity", pb.KEY_TYPE_ENCRYPTION: "encryption"}
_STATUS = {"current": pb.KEY_STATUS_CURRENT, "retired": pb.KEY_STATUS_RETIRED, "revoked": pb.KEY_STATUS_REVOKED}


def key_id_for(key_type: str, public_key: bytes) -> str:
    return identity_key_id(public_key) if key_type == "identity" else recipient_key_id(public_key)


def add_key(session: Session, principal: str, key_type: str, public_key: bytes) -> PrincipalKey:
    """Registers a key as the principal's current one of its type; the previous one retires."""
    key_id = key_id_for(key_type, public_key)
    if session.get(PrincipalKey, key_id) is not None:
        raise AlreadyExists("this public key is already registered")
    for old in session.scalars(
        select(PrincipalKey).where(
            PrincipalKey.principal == principal,
            PrincipalKey.key_type == key_type,
            PrincipalKey.status == "current",
        )
    ):
        old.status = "retired"
    key = PrincipalKey(
        key_id=key_id, principal=principal, key_type=key_type, public_key=public_key,
        status="current", created_ns=time.time_ns(),
    )
    session.add(key)
    return key


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def RegisterInstitution(self, request, context):
        current_principal().require("operator")
        v = Violations()
        v.institution_id("institution_id", request.institution_id)
        v.text("display_name", request.display_name, required=True, limit=200)
        v.check(request.kind in pb.InstitutionKind.values() and request.kind != 0, "kind", "must be set")
        v.key32("identity_public_key", request.identity_public_key)
        v.key32("encryption_public_key", request.encryption_public_key)
        v.raise_if_any()
        principal = "org:" + request.institution_id
        with self.app.db.write() as s:
            if s.get(Institution, request.institution_id) is not None:
                raise AlreadyExists("an institution with this id is already registered")
            s.add(Institution(institution_id=request.institution_id, display_name=request.display_name,
                              kind=request.kind, created_ns=time.time_ns()))
            ident = add_key(s, principal, "identity", request.identity_public_key)
            enc = add_key(s, principal, "encryption", request.encryption_public_key)
            self.app.trail.append(s, "institution.registered", current_principal().id,
                                  institution=principal, key_ids=[ident.key_id, enc.key_id])
            s.flush()
            return pb.RegisterInstitutionResponse(institution=_institution(s, request.institution_id))

    def GetInstitution(self, request, context):
        v = Violations()
        v.institution_id("institution_id", request.institution_id)
        v.raise_if_any()
        with self.app.db.read() as s:
            return pb.GetInstitutionResponse(institution=_institution(s, request.institution_id))

    def ListInstitutions(self, request, context):
        v = Violations()
        v.page_size("page_size", request.page_size)
        v.raise_if_any()
        size = request.page_size or 100
        with self.app.db.read() as s:
            ids = s.scalars(
                select(Institution.institution_id)
                .where(Institution.institution_id > request.page_token)
                .order_by(Institution.institution_id).limit(size + 1)
            ).all()
            page = [_institution(s, i) for i in ids[:size]]
        next_token = ids[size - 1] if len(ids) > size else ""
        return pb.ListInstitutionsResponse(institutions=page, next_page_token=next_token)

    def RotateInstitutionKey(self, request, context):
        principal = self._key_manager(request.institution_id)
        v = Violations()
        v.check(request.type in _KEY_TYPES, "type", "must be KEY_TYPE_IDENTITY or KEY_TYPE_ENCRYPTION")
        v.key32("public_key", request.public_key)
        v.raise_if_any()
        with self.app.db.write() as s:
            _require_institution(s, request.institution_id)
            key = add_key(s, "org:" + request.institution_id, _KEY_TYPES[request.type], request.public_key)
            self.app.trail.append(s, "key.rotated", principal.id, institution="org:" + request.institution_id,
                                  key_type=key.key_type, key_id=key.key_id)
            s.flush()
            return pb.RotateInstitutionKeyResponse(institution=_institution(s, request.institution_id))

    def RevokeInstitutionKey(self, request, context):
        principal = self._key_manager(request.institution_id)
        v = Violations()
        v.text("key_id", request.key_id, required=True, limit=80)
        v.text("reason", request.reason, required=True)
        v.raise_if_any()
        with self.app.db.write() as s:
            _require_institution(s, request.institution_id)
            key = s.get(PrincipalKey, request.key_id)
            if key is None or key.principal != "org:" + request.institution_id:
                raise NotFound("the institution has no key with this id")
            if key.status == "revoked":
                raise FailedPrecondition("the key is already revoked")
            if key.key_type == "identity" and principal.kind == "org" and _usable_identity_keys(s, key.principal) <= 1:
                raise FailedPrecondition("an institution cannot revoke its last usable identity key; ask the operator")
            key.status, key.revoked_ns = "revoked", time.time_ns()
            self.app.trail.append(s, "key.revoked", principal.id, institution=key.principal,
                                  key_type=key.key_type, key_id=key.key_id, reason=request.reason)
            s.flush()
            return pb.RevokeInstitutionKeyResponse(institution=_institution(s, request.institution_id))

    def EnrollPatient(self, request, context):
        current_principal().require("operator")
        v = Violations()
        v.person_id("patient_id", request.patient_id)
        v.key32("identity_public_key", request.identity_public_key)
        v.raise_if_any()
        key_id = self._enroll(Person(patient_id=request.patient_id, created_ns=time.time_ns()), request.patient_id,
                              "patient:" + request.patient_id, request.identity_public_key,
                              "this patient is already enrolled", "patient.enrolled", patient_id=request.patient_id)
        return pb.EnrollPatientResponse(patient_id=request.patient_id, key_id=key_id)

    def EnrollAuditor(self, request, context):
        current_principal().require("operator")
        v = Violations()
        v.institution_id("auditor_id", request.auditor_id)
        v.key32("identity_public_key", request.identity_public_key)
        v.raise_if_any()
        principal = "auditor:" + request.auditor_id
        key_id = self._enroll(Auditor(auditor_id=request.auditor_id, created_ns=time.time_ns()), request.auditor_id,
                              principal, request.identity_public_key, "an auditor with this id is already enrolled",
                              "auditor.enrolled", auditor=principal)
        return pb.EnrollAuditorResponse(auditor_id=request.auditor_id, key_id=key_id)

    def _enroll(self, row, row_id: str, principal: str, public_key: bytes, exists: str, event: str, **ledgered) -> str:  # type: ignore[no-untyped-def]
        """Enrols a person or an auditor with their identity key; returns the key id."""
        with self.app.db.write() as s:
            if s.get(type(row), row_id) is not None:
                raise AlreadyExists(exists)
            s.add(row)
            key = add_key(s, principal, "identity", public_key)
            self.app.trail.append(s, event, current_principal().id, key_id=key.key_id, **ledgered)
            return key.key_id

    def GetServiceKeys(self, request, context):
        return pb.GetServiceKeysResponse(
            share_signing_public_key=bytes(self.app.share_signer.verify_key),
            ledger_verifier_key=self.app.ledger_verifier_key,
            ledger_origin=self.app.settings.ledger_origin,
        )

    def _key_manager(self, institution_id: str):
        """The operator, or the institution itself, may manage an institution's keys."""
        principal = current_principal()
        principal.require("operator", "org")
        v = Violations()
        v.institution_id("institution_id", institution_id)
        v.raise_if_any()
        if principal.kind == "org" and principal.name != institution_id:
            raise PermissionDenied("an institution may manage only its own keys")
        return principal


def _require_institution(s: Session, institution_id: str) -> Institution:
    inst = s.get(Institution, institution_id)
    if inst is None:
        raise NotFound("no institution with this id is registered")
    return inst


def _usable_identity_keys(s: Session, principal: str) -> int:
    return len(s.scalars(select(PrincipalKey.key_id).where(
        PrincipalKey.principal == principal, PrincipalKey.key_type == "identity",
        PrincipalKey.status != "revoked")).all())


def _institution(s: Session, institution_id: str) -> pb.Institution:
    inst = _require_institution(s, institution_id)
    keys = s.scalars(select(PrincipalKey).where(PrincipalKey.principal == "org:" + institution_id)
                     .order_by(PrincipalKey.created_ns)).all()
    return pb.Institution(
        institution_id=inst.institution_id, display_name=inst.display_name, kind=inst.kind,
        create_time=to_timestamp(inst.created_ns),
        keys=[pb.PublicKey(key_id=k.key_id, type=pb.KEY_TYPE_IDENTITY if k.key_type == "identity" else pb.KEY_TYPE_ENCRYPTION,
                           public_key=k.public_key, status=_STATUS[k.status], create_time=to_timestamp(k.created_ns))
              for k in keys],
    )
