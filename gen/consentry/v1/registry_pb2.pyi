import datetime

from consentry.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InstitutionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTITUTION_KIND_UNSPECIFIED: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_HOSPITAL: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_CLINIC: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_FAMILY_DOCTOR: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_LABORATORY: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_INSURER: _ClassVar[InstitutionKind]
    INSTITUTION_KIND_RESEARCH_REGISTRY: _ClassVar[InstitutionKind]

class KeyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_TYPE_UNSPECIFIED: _ClassVar[KeyType]
    KEY_TYPE_IDENTITY: _ClassVar[KeyType]
    KEY_TYPE_ENCRYPTION: _ClassVar[KeyType]

class KeyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATUS_UNSPECIFIED: _ClassVar[KeyStatus]
    KEY_STATUS_CURRENT: _ClassVar[KeyStatus]
    KEY_STATUS_RETIRED: _ClassVar[KeyStatus]
    KEY_STATUS_REVOKED: _ClassVar[KeyStatus]
INSTITUTION_KIND_UNSPECIFIED: InstitutionKind
INSTITUTION_KIND_HOSPITAL: InstitutionKind
INSTITUTION_KIND_CLINIC: InstitutionKind
INSTITUTION_KIND_FAMILY_DOCTOR: InstitutionKind
INSTITUTION_KIND_LABORATORY: InstitutionKind
INSTITUTION_KIND_INSURER: InstitutionKind
INSTITUTION_KIND_RESEARCH_REGISTRY: InstitutionKind
KEY_TYPE_UNSPECIFIED: KeyType
KEY_TYPE_IDENTITY: KeyType
KEY_TYPE_ENCRYPTION: KeyType
KEY_STATUS_UNSPECIFIED: KeyStatus
KEY_STATUS_CURRENT: KeyStatus
KEY_STATUS_RETIRED: KeyStatus
KEY_STATUS_REVOKED: KeyStatus

class PublicKey(_message.Message):
    __slots__ = ("key_id", "type", "public_key", "status", "create_time")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    type: KeyType
    public_key: bytes
    status: KeyStatus
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, key_id: _Optional[str] = ..., type: _Optional[_Union[KeyType, str]] = ..., public_key: _Optional[bytes] = ..., status: _Optional[_Union[KeyStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Institution(_message.Message):
    __slots__ = ("institution_id", "display_name", "kind", "keys", "create_time", "part2_program")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PART2_PROGRAM_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    display_name: str
    kind: InstitutionKind
    keys: _containers.RepeatedCompositeFieldContainer[PublicKey]
    create_time: _timestamp_pb2.Timestamp
    part2_program: bool
    def __init__(self, institution_id: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[InstitutionKind, str]] = ..., keys: _Optional[_Iterable[_Union[PublicKey, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., part2_program: _Optional[bool] = ...) -> None: ...

class RegisterInstitutionRequest(_message.Message):
    __slots__ = ("institution_id", "display_name", "kind", "identity_public_key", "encryption_public_key", "idempotency_key", "part2_program")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PART2_PROGRAM_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    display_name: str
    kind: InstitutionKind
    identity_public_key: bytes
    encryption_public_key: bytes
    idempotency_key: str
    part2_program: bool
    def __init__(self, institution_id: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[InstitutionKind, str]] = ..., identity_public_key: _Optional[bytes] = ..., encryption_public_key: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ..., part2_program: _Optional[bool] = ...) -> None: ...

class RegisterInstitutionResponse(_message.Message):
    __slots__ = ("institution",)
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    institution: Institution
    def __init__(self, institution: _Optional[_Union[Institution, _Mapping]] = ...) -> None: ...

class GetInstitutionRequest(_message.Message):
    __slots__ = ("institution_id",)
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    def __init__(self, institution_id: _Optional[str] = ...) -> None: ...

class GetInstitutionResponse(_message.Message):
    __slots__ = ("institution",)
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    institution: Institution
    def __init__(self, institution: _Optional[_Union[Institution, _Mapping]] = ...) -> None: ...

class ListInstitutionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInstitutionsResponse(_message.Message):
    __slots__ = ("institutions", "next_page_token")
    INSTITUTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    institutions: _containers.RepeatedCompositeFieldContainer[Institution]
    next_page_token: str
    def __init__(self, institutions: _Optional[_Iterable[_Union[Institution, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RotateInstitutionKeyRequest(_message.Message):
    __slots__ = ("institution_id", "type", "public_key", "idempotency_key")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    type: KeyType
    public_key: bytes
    idempotency_key: str
    def __init__(self, institution_id: _Optional[str] = ..., type: _Optional[_Union[KeyType, str]] = ..., public_key: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RotateInstitutionKeyResponse(_message.Message):
    __slots__ = ("institution",)
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    institution: Institution
    def __init__(self, institution: _Optional[_Union[Institution, _Mapping]] = ...) -> None: ...

class RevokeInstitutionKeyRequest(_message.Message):
    __slots__ = ("institution_id", "key_id", "reason", "idempotency_key")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    key_id: str
    reason: str
    idempotency_key: str
    def __init__(self, institution_id: _Optional[str] = ..., key_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RevokeInstitutionKeyResponse(_message.Message):
    __slots__ = ("institution",)
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    institution: Institution
    def __init__(self, institution: _Optional[_Union[Institution, _Mapping]] = ...) -> None: ...

class EnrollPatientRequest(_message.Message):
    __slots__ = ("patient_id", "identity_public_key", "idempotency_key", "identifiers")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    identity_public_key: bytes
    idempotency_key: str
    identifiers: _containers.RepeatedCompositeFieldContainer[PatientIdentifier]
    def __init__(self, patient_id: _Optional[str] = ..., identity_public_key: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[PatientIdentifier, _Mapping]]] = ...) -> None: ...

class PatientIdentifier(_message.Message):
    __slots__ = ("system", "value")
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    system: str
    value: str
    def __init__(self, system: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class EnrollPatientResponse(_message.Message):
    __slots__ = ("patient_id", "key_id")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    key_id: str
    def __init__(self, patient_id: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class EnrollAuditorRequest(_message.Message):
    __slots__ = ("auditor_id", "identity_public_key", "idempotency_key")
    AUDITOR_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    auditor_id: str
    identity_public_key: bytes
    idempotency_key: str
    def __init__(self, auditor_id: _Optional[str] = ..., identity_public_key: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EnrollAuditorResponse(_message.Message):
    __slots__ = ("auditor_id", "key_id")
    AUDITOR_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    auditor_id: str
    key_id: str
    def __init__(self, auditor_id: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class Practitioner(_message.Message):
    __slots__ = ("institution_id", "practitioner_id", "roles", "register_time", "remove_time")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TIME_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    practitioner_id: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    register_time: _timestamp_pb2.Timestamp
    remove_time: _timestamp_pb2.Timestamp
    def __init__(self, institution_id: _Optional[str] = ..., practitioner_id: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., remove_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterPractitionerRequest(_message.Message):
    __slots__ = ("institution_id", "practitioner_id", "roles", "idempotency_key")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    practitioner_id: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, institution_id: _Optional[str] = ..., practitioner_id: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RegisterPractitionerResponse(_message.Message):
    __slots__ = ("practitioner",)
    PRACTITIONER_FIELD_NUMBER: _ClassVar[int]
    practitioner: Practitioner
    def __init__(self, practitioner: _Optional[_Union[Practitioner, _Mapping]] = ...) -> None: ...

class RemovePractitionerRequest(_message.Message):
    __slots__ = ("institution_id", "practitioner_id", "idempotency_key")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    practitioner_id: str
    idempotency_key: str
    def __init__(self, institution_id: _Optional[str] = ..., practitioner_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RemovePractitionerResponse(_message.Message):
    __slots__ = ("practitioner",)
    PRACTITIONER_FIELD_NUMBER: _ClassVar[int]
    practitioner: Practitioner
    def __init__(self, practitioner: _Optional[_Union[Practitioner, _Mapping]] = ...) -> None: ...

class ListPractitionersRequest(_message.Message):
    __slots__ = ("institution_id", "page_size", "page_token")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    page_size: int
    page_token: str
    def __init__(self, institution_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPractitionersResponse(_message.Message):
    __slots__ = ("practitioners", "next_page_token")
    PRACTITIONERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    practitioners: _containers.RepeatedCompositeFieldContainer[Practitioner]
    next_page_token: str
    def __init__(self, practitioners: _Optional[_Iterable[_Union[Practitioner, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServiceKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServiceKeysResponse(_message.Message):
    __slots__ = ("share_signing_public_key", "ledger_verifier_key", "ledger_origin", "share_signing_keys")
    SHARE_SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    LEDGER_VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SHARE_SIGNING_KEYS_FIELD_NUMBER: _ClassVar[int]
    share_signing_public_key: bytes
    ledger_verifier_key: str
    ledger_origin: str
    share_signing_keys: _containers.RepeatedCompositeFieldContainer[ServiceSigningKey]
    def __init__(self, share_signing_public_key: _Optional[bytes] = ..., ledger_verifier_key: _Optional[str] = ..., ledger_origin: _Optional[str] = ..., share_signing_keys: _Optional[_Iterable[_Union[ServiceSigningKey, _Mapping]]] = ...) -> None: ...

class ServiceSigningKey(_message.Message):
    __slots__ = ("purpose", "key_id", "public_key", "status", "valid_from", "retired_at", "revoked_from", "statement", "old_signature", "new_signature")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FROM_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    OLD_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    key_id: str
    public_key: bytes
    status: str
    valid_from: str
    retired_at: str
    revoked_from: str
    statement: bytes
    old_signature: bytes
    new_signature: bytes
    def __init__(self, purpose: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., status: _Optional[str] = ..., valid_from: _Optional[str] = ..., retired_at: _Optional[str] = ..., revoked_from: _Optional[str] = ..., statement: _Optional[bytes] = ..., old_signature: _Optional[bytes] = ..., new_signature: _Optional[bytes] = ...) -> None: ...

class NoticeText(_message.Message):
    __slots__ = ("language", "recipient_legal_name", "recipient_contact", "purpose_description", "handling_method", "necessity_and_impact", "retention", "how_to_withdraw")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_CONTACT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HANDLING_METHOD_FIELD_NUMBER: _ClassVar[int]
    NECESSITY_AND_IMPACT_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    HOW_TO_WITHDRAW_FIELD_NUMBER: _ClassVar[int]
    language: str
    recipient_legal_name: str
    recipient_contact: str
    purpose_description: str
    handling_method: str
    necessity_and_impact: str
    retention: str
    how_to_withdraw: str
    def __init__(self, language: _Optional[str] = ..., recipient_legal_name: _Optional[str] = ..., recipient_contact: _Optional[str] = ..., purpose_description: _Optional[str] = ..., handling_method: _Optional[str] = ..., necessity_and_impact: _Optional[str] = ..., retention: _Optional[str] = ..., how_to_withdraw: _Optional[str] = ...) -> None: ...

class PrivacyNotice(_message.Message):
    __slots__ = ("notice_id", "version", "institution_id", "purposes", "categories", "texts", "publish_time", "content_hash")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    version: int
    institution_id: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    texts: _containers.RepeatedCompositeFieldContainer[NoticeText]
    publish_time: _timestamp_pb2.Timestamp
    content_hash: bytes
    def __init__(self, notice_id: _Optional[str] = ..., version: _Optional[int] = ..., institution_id: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., texts: _Optional[_Iterable[_Union[NoticeText, _Mapping]]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_hash: _Optional[bytes] = ...) -> None: ...

class PublishPrivacyNoticeRequest(_message.Message):
    __slots__ = ("institution_id", "notice_id", "purposes", "categories", "texts", "idempotency_key")
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    institution_id: str
    notice_id: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    texts: _containers.RepeatedCompositeFieldContainer[NoticeText]
    idempotency_key: str
    def __init__(self, institution_id: _Optional[str] = ..., notice_id: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., texts: _Optional[_Iterable[_Union[NoticeText, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PublishPrivacyNoticeResponse(_message.Message):
    __slots__ = ("notice", "ref")
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    notice: PrivacyNotice
    ref: _common_pb2.NoticeRef
    def __init__(self, notice: _Optional[_Union[PrivacyNotice, _Mapping]] = ..., ref: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class GetPrivacyNoticeRequest(_message.Message):
    __slots__ = ("notice_id", "version")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    version: int
    def __init__(self, notice_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetPrivacyNoticeResponse(_message.Message):
    __slots__ = ("notice", "ref")
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    notice: PrivacyNotice
    ref: _common_pb2.NoticeRef
    def __init__(self, notice: _Optional[_Union[PrivacyNotice, _Mapping]] = ..., ref: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class CreateEnrolmentCodeRequest(_message.Message):
    __slots__ = ("patient_id", "identifiers", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[PatientIdentifier]
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[PatientIdentifier, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateEnrolmentCodeResponse(_message.Message):
    __slots__ = ("code", "expire_time")
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    code: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, code: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RedeemEnrolmentCodeRequest(_message.Message):
    __slots__ = ("code", "identity_public_key", "proof")
    CODE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    code: str
    identity_public_key: bytes
    proof: bytes
    def __init__(self, code: _Optional[str] = ..., identity_public_key: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class RedeemEnrolmentCodeResponse(_message.Message):
    __slots__ = ("patient_id", "key_id")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    key_id: str
    def __init__(self, patient_id: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...
