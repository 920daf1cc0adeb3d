import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RightsRequestType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RIGHTS_REQUEST_TYPE_UNSPECIFIED: _ClassVar[RightsRequestType]
    RIGHTS_REQUEST_TYPE_ACCESS: _ClassVar[RightsRequestType]
    RIGHTS_REQUEST_TYPE_CORRECTION: _ClassVar[RightsRequestType]
    RIGHTS_REQUEST_TYPE_ERASURE: _ClassVar[RightsRequestType]
    RIGHTS_REQUEST_TYPE_RESTRICTION: _ClassVar[RightsRequestType]
    RIGHTS_REQUEST_TYPE_OBJECTION: _ClassVar[RightsRequestType]

class RightsRequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RIGHTS_REQUEST_STATUS_UNSPECIFIED: _ClassVar[RightsRequestStatus]
    RIGHTS_REQUEST_STATUS_RECEIVED: _ClassVar[RightsRequestStatus]
    RIGHTS_REQUEST_STATUS_IN_PROGRESS: _ClassVar[RightsRequestStatus]
    RIGHTS_REQUEST_STATUS_EXTENDED: _ClassVar[RightsRequestStatus]
    RIGHTS_REQUEST_STATUS_COMPLETED: _ClassVar[RightsRequestStatus]
    RIGHTS_REQUEST_STATUS_REFUSED: _ClassVar[RightsRequestStatus]

class RepresentativeBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPRESENTATIVE_BASIS_UNSPECIFIED: _ClassVar[RepresentativeBasis]
    REPRESENTATIVE_BASIS_GUARDIAN: _ClassVar[RepresentativeBasis]
    REPRESENTATIVE_BASIS_NEXT_OF_KIN: _ClassVar[RepresentativeBasis]
RIGHTS_REQUEST_TYPE_UNSPECIFIED: RightsRequestType
RIGHTS_REQUEST_TYPE_ACCESS: RightsRequestType
RIGHTS_REQUEST_TYPE_CORRECTION: RightsRequestType
RIGHTS_REQUEST_TYPE_ERASURE: RightsRequestType
RIGHTS_REQUEST_TYPE_RESTRICTION: RightsRequestType
RIGHTS_REQUEST_TYPE_OBJECTION: RightsRequestType
RIGHTS_REQUEST_STATUS_UNSPECIFIED: RightsRequestStatus
RIGHTS_REQUEST_STATUS_RECEIVED: RightsRequestStatus
RIGHTS_REQUEST_STATUS_IN_PROGRESS: RightsRequestStatus
RIGHTS_REQUEST_STATUS_EXTENDED: RightsRequestStatus
RIGHTS_REQUEST_STATUS_COMPLETED: RightsRequestStatus
RIGHTS_REQUEST_STATUS_REFUSED: RightsRequestStatus
REPRESENTATIVE_BASIS_UNSPECIFIED: RepresentativeBasis
REPRESENTATIVE_BASIS_GUARDIAN: RepresentativeBasis
REPRESENTATIVE_BASIS_NEXT_OF_KIN: RepresentativeBasis

class RightsRequest(_message.Message):
    __slots__ = ("request_id", "patient_id", "type", "holder", "record_id", "receive_time", "deadline_time", "deadline_basis", "status", "update_time", "refusal_reason", "explanation", "correction_reason", "correction_text", "amendment_record_id", "filed_by")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_BASIS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_TEXT_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    FILED_BY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    patient_id: str
    type: RightsRequestType
    holder: str
    record_id: str
    receive_time: _timestamp_pb2.Timestamp
    deadline_time: _timestamp_pb2.Timestamp
    deadline_basis: str
    status: RightsRequestStatus
    update_time: _timestamp_pb2.Timestamp
    refusal_reason: str
    explanation: str
    correction_reason: str
    correction_text: str
    amendment_record_id: str
    filed_by: str
    def __init__(self, request_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., type: _Optional[_Union[RightsRequestType, str]] = ..., holder: _Optional[str] = ..., record_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline_basis: _Optional[str] = ..., status: _Optional[_Union[RightsRequestStatus, str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refusal_reason: _Optional[str] = ..., explanation: _Optional[str] = ..., correction_reason: _Optional[str] = ..., correction_text: _Optional[str] = ..., amendment_record_id: _Optional[str] = ..., filed_by: _Optional[str] = ...) -> None: ...

class ExportRecordsRequest(_message.Message):
    __slots__ = ("patient_id", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., page_token: _Optional[str] = ...) -> None: ...

class SealedExport(_message.Message):
    __slots__ = ("header", "ciphertext", "sealed_key", "signature")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    SEALED_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    ciphertext: bytes
    sealed_key: bytes
    signature: bytes
    def __init__(self, header: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ..., sealed_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ExportRecordsResponse(_message.Message):
    __slots__ = ("export", "record_count", "next_page_token", "request", "ledger_seq")
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    export: SealedExport
    record_count: int
    next_page_token: str
    request: RightsRequest
    ledger_seq: int
    def __init__(self, export: _Optional[_Union[SealedExport, _Mapping]] = ..., record_count: _Optional[int] = ..., next_page_token: _Optional[str] = ..., request: _Optional[_Union[RightsRequest, _Mapping]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...

class FileRightsRequestRequest(_message.Message):
    __slots__ = ("patient_id", "type", "holder", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    type: RightsRequestType
    holder: str
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., type: _Optional[_Union[RightsRequestType, str]] = ..., holder: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class FileRightsRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: RightsRequest
    def __init__(self, request: _Optional[_Union[RightsRequest, _Mapping]] = ...) -> None: ...

class ListRightsRequestsRequest(_message.Message):
    __slots__ = ("patient_id", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRightsRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RightsRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[RightsRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateRightsRequestRequest(_message.Message):
    __slots__ = ("request_id", "status", "refusal_reason", "explanation", "idempotency_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: RightsRequestStatus
    refusal_reason: str
    explanation: str
    idempotency_key: str
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[_Union[RightsRequestStatus, str]] = ..., refusal_reason: _Optional[str] = ..., explanation: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class UpdateRightsRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: RightsRequest
    def __init__(self, request: _Optional[_Union[RightsRequest, _Mapping]] = ...) -> None: ...

class FileCorrectionRequest(_message.Message):
    __slots__ = ("patient_id", "record_id", "reason", "text", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    record_id: str
    reason: str
    text: str
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., record_id: _Optional[str] = ..., reason: _Optional[str] = ..., text: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class FileCorrectionResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: RightsRequest
    def __init__(self, request: _Optional[_Union[RightsRequest, _Mapping]] = ...) -> None: ...

class AnswerCorrectionRequest(_message.Message):
    __slots__ = ("request_id", "accept", "fhir_json", "refusal_reason", "explanation", "idempotency_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    accept: bool
    fhir_json: bytes
    refusal_reason: str
    explanation: str
    idempotency_key: str
    def __init__(self, request_id: _Optional[str] = ..., accept: _Optional[bool] = ..., fhir_json: _Optional[bytes] = ..., refusal_reason: _Optional[str] = ..., explanation: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AnswerCorrectionResponse(_message.Message):
    __slots__ = ("request", "notified")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    NOTIFIED_FIELD_NUMBER: _ClassVar[int]
    request: RightsRequest
    notified: int
    def __init__(self, request: _Optional[_Union[RightsRequest, _Mapping]] = ..., notified: _Optional[int] = ...) -> None: ...

class RecipientNotice(_message.Message):
    __slots__ = ("notice_id", "kind", "record_id", "amendment_record_id", "create_time")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    AMENDMENT_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    kind: str
    record_id: str
    amendment_record_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, notice_id: _Optional[str] = ..., kind: _Optional[str] = ..., record_id: _Optional[str] = ..., amendment_record_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRecipientNoticesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecipientNoticesResponse(_message.Message):
    __slots__ = ("notices", "next_page_token")
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    notices: _containers.RepeatedCompositeFieldContainer[RecipientNotice]
    next_page_token: str
    def __init__(self, notices: _Optional[_Iterable[_Union[RecipientNotice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Representative(_message.Message):
    __slots__ = ("patient_id", "representative_id", "basis", "evidence_type", "evidence_hash", "create_time", "end_time", "active")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    representative_id: str
    basis: RepresentativeBasis
    evidence_type: str
    evidence_hash: str
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    active: bool
    def __init__(self, patient_id: _Optional[str] = ..., representative_id: _Optional[str] = ..., basis: _Optional[_Union[RepresentativeBasis, str]] = ..., evidence_type: _Optional[str] = ..., evidence_hash: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class EstablishRepresentativeRequest(_message.Message):
    __slots__ = ("patient_id", "representative_id", "basis", "evidence_type", "evidence_hash", "end_time", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_HASH_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    representative_id: str
    basis: RepresentativeBasis
    evidence_type: str
    evidence_hash: str
    end_time: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., representative_id: _Optional[str] = ..., basis: _Optional[_Union[RepresentativeBasis, str]] = ..., evidence_type: _Optional[str] = ..., evidence_hash: _Optional[str] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EstablishRepresentativeResponse(_message.Message):
    __slots__ = ("representative", "ledger_seq")
    REPRESENTATIVE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    representative: Representative
    ledger_seq: int
    def __init__(self, representative: _Optional[_Union[Representative, _Mapping]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...

class EndRepresentativeRequest(_message.Message):
    __slots__ = ("patient_id", "representative_id", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    representative_id: str
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., representative_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EndRepresentativeResponse(_message.Message):
    __slots__ = ("representative",)
    REPRESENTATIVE_FIELD_NUMBER: _ClassVar[int]
    representative: Representative
    def __init__(self, representative: _Optional[_Union[Representative, _Mapping]] = ...) -> None: ...

class ListRepresentativesRequest(_message.Message):
    __slots__ = ("patient_id",)
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    def __init__(self, patient_id: _Optional[str] = ...) -> None: ...

class ListRepresentativesResponse(_message.Message):
    __slots__ = ("representatives",)
    REPRESENTATIVES_FIELD_NUMBER: _ClassVar[int]
    representatives: _containers.RepeatedCompositeFieldContainer[Representative]
    def __init__(self, representatives: _Optional[_Iterable[_Union[Representative, _Mapping]]] = ...) -> None: ...
