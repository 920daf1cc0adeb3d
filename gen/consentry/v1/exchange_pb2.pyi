import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordMetadata(_message.Message):
    __slots__ = ("record_id", "patient_id", "holder", "resource_type", "category", "labels", "effective_time", "create_time", "erased", "content_hash", "subject_id", "label_reasons", "amends_record_id", "patient_reported")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_REASONS_FIELD_NUMBER: _ClassVar[int]
    AMENDS_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_REPORTED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    patient_id: str
    holder: str
    resource_type: str
    category: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    effective_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    erased: bool
    content_hash: str
    subject_id: str
    label_reasons: _containers.RepeatedCompositeFieldContainer[LabelReason]
    amends_record_id: str
    patient_reported: bool
    def __init__(self, record_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., holder: _Optional[str] = ..., resource_type: _Optional[str] = ..., category: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erased: _Optional[bool] = ..., content_hash: _Optional[str] = ..., subject_id: _Optional[str] = ..., label_reasons: _Optional[_Iterable[_Union[LabelReason, _Mapping]]] = ..., amends_record_id: _Optional[str] = ..., patient_reported: _Optional[bool] = ...) -> None: ...

class LabelReason(_message.Message):
    __slots__ = ("label", "source", "element", "value_set", "value_set_version", "system")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_SET_FIELD_NUMBER: _ClassVar[int]
    VALUE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    label: str
    source: str
    element: str
    value_set: str
    value_set_version: str
    system: str
    def __init__(self, label: _Optional[str] = ..., source: _Optional[str] = ..., element: _Optional[str] = ..., value_set: _Optional[str] = ..., value_set_version: _Optional[str] = ..., system: _Optional[str] = ...) -> None: ...

class PutRecordRequest(_message.Message):
    __slots__ = ("patient_id", "fhir_json", "labels", "category", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    fhir_json: bytes
    labels: _containers.RepeatedScalarFieldContainer[str]
    category: str
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., fhir_json: _Optional[bytes] = ..., labels: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PutRecordResponse(_message.Message):
    __slots__ = ("record", "ledger_seq")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    record: RecordMetadata
    ledger_seq: int
    def __init__(self, record: _Optional[_Union[RecordMetadata, _Mapping]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("patient_id", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[RecordMetadata]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[RecordMetadata, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Emergency(_message.Message):
    __slots__ = ("declared", "justification")
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    declared: bool
    justification: str
    def __init__(self, declared: _Optional[bool] = ..., justification: _Optional[str] = ...) -> None: ...

class FetchRecordsRequest(_message.Message):
    __slots__ = ("patient_id", "purpose", "categories", "record_ids", "emergency", "nonce", "subject_id")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    purpose: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    emergency: Emergency
    nonce: bytes
    subject_id: str
    def __init__(self, patient_id: _Optional[str] = ..., purpose: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., record_ids: _Optional[_Iterable[str]] = ..., emergency: _Optional[_Union[Emergency, _Mapping]] = ..., nonce: _Optional[bytes] = ..., subject_id: _Optional[str] = ...) -> None: ...

class SharePackage(_message.Message):
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

class SharedRecord(_message.Message):
    __slots__ = ("record", "package")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    record: RecordMetadata
    package: SharePackage
    def __init__(self, record: _Optional[_Union[RecordMetadata, _Mapping]] = ..., package: _Optional[_Union[SharePackage, _Mapping]] = ...) -> None: ...

class WithheldRecord(_message.Message):
    __slots__ = ("record_id", "category", "reasons", "erased")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    category: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    erased: bool
    def __init__(self, record_id: _Optional[str] = ..., category: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., erased: _Optional[bool] = ...) -> None: ...

class FetchRecordsResponse(_message.Message):
    __slots__ = ("ledger_seq", "shared", "withheld", "ledger_entry")
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_FIELD_NUMBER: _ClassVar[int]
    ledger_seq: int
    shared: SharedRecord
    withheld: WithheldRecord
    ledger_entry: bytes
    def __init__(self, ledger_seq: _Optional[int] = ..., shared: _Optional[_Union[SharedRecord, _Mapping]] = ..., withheld: _Optional[_Union[WithheldRecord, _Mapping]] = ..., ledger_entry: _Optional[bytes] = ...) -> None: ...

class EraseRecordRequest(_message.Message):
    __slots__ = ("record_id", "reason", "idempotency_key")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    reason: str
    idempotency_key: str
    def __init__(self, record_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EraseRecordResponse(_message.Message):
    __slots__ = ("record", "ledger_seq")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    record: RecordMetadata
    ledger_seq: int
    def __init__(self, record: _Optional[_Union[RecordMetadata, _Mapping]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...

class PutObservationRequest(_message.Message):
    __slots__ = ("patient_id", "fhir_json", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    fhir_json: bytes
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., fhir_json: _Optional[bytes] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PutObservationResponse(_message.Message):
    __slots__ = ("record", "ledger_seq")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    record: RecordMetadata
    ledger_seq: int
    def __init__(self, record: _Optional[_Union[RecordMetadata, _Mapping]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...
