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

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_ACTIVE: _ClassVar[ConsentStatus]
    CONSENT_STATUS_REVOKED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_EXPIRED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_SUPERSEDED: _ClassVar[ConsentStatus]

class ConsentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_KIND_UNSPECIFIED: _ClassVar[ConsentKind]
    CONSENT_KIND_TREATMENT: _ClassVar[ConsentKind]
    CONSENT_KIND_RESEARCH: _ClassVar[ConsentKind]

class AccessRequestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_REQUEST_STATUS_UNSPECIFIED: _ClassVar[AccessRequestStatus]
    ACCESS_REQUEST_STATUS_PENDING: _ClassVar[AccessRequestStatus]
    ACCESS_REQUEST_STATUS_APPROVED: _ClassVar[AccessRequestStatus]
    ACCESS_REQUEST_STATUS_DECLINED: _ClassVar[AccessRequestStatus]
    ACCESS_REQUEST_STATUS_EXPIRED: _ClassVar[AccessRequestStatus]

class ProxyScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROXY_SCOPE_UNSPECIFIED: _ClassVar[ProxyScope]
    PROXY_SCOPE_MANAGE_CONSENTS: _ClassVar[ProxyScope]
    PROXY_SCOPE_READ_HISTORY: _ClassVar[ProxyScope]
    PROXY_SCOPE_REPORT_READINGS: _ClassVar[ProxyScope]

class NoticeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTICE_KIND_UNSPECIFIED: _ClassVar[NoticeKind]
    NOTICE_KIND_ACCESS_REQUESTED: _ClassVar[NoticeKind]
    NOTICE_KIND_EMERGENCY_ACCESS: _ClassVar[NoticeKind]
    NOTICE_KIND_RECORD_AMENDED: _ClassVar[NoticeKind]

class ConsentChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_CHANGE_KIND_UNSPECIFIED: _ClassVar[ConsentChangeKind]
    CONSENT_CHANGE_KIND_REQUEST_APPROVED: _ClassVar[ConsentChangeKind]
    CONSENT_CHANGE_KIND_REQUEST_DECLINED: _ClassVar[ConsentChangeKind]
    CONSENT_CHANGE_KIND_CONSENT_GRANTED: _ClassVar[ConsentChangeKind]
    CONSENT_CHANGE_KIND_CONSENT_NARROWED: _ClassVar[ConsentChangeKind]
    CONSENT_CHANGE_KIND_CONSENT_REVOKED: _ClassVar[ConsentChangeKind]

class DeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATUS_UNSPECIFIED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_RECEIVED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_NOT_CONFIRMED: _ClassVar[DeliveryStatus]
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_ACTIVE: ConsentStatus
CONSENT_STATUS_REVOKED: ConsentStatus
CONSENT_STATUS_EXPIRED: ConsentStatus
CONSENT_STATUS_SUPERSEDED: ConsentStatus
CONSENT_KIND_UNSPECIFIED: ConsentKind
CONSENT_KIND_TREATMENT: ConsentKind
CONSENT_KIND_RESEARCH: ConsentKind
ACCESS_REQUEST_STATUS_UNSPECIFIED: AccessRequestStatus
ACCESS_REQUEST_STATUS_PENDING: AccessRequestStatus
ACCESS_REQUEST_STATUS_APPROVED: AccessRequestStatus
ACCESS_REQUEST_STATUS_DECLINED: AccessRequestStatus
ACCESS_REQUEST_STATUS_EXPIRED: AccessRequestStatus
PROXY_SCOPE_UNSPECIFIED: ProxyScope
PROXY_SCOPE_MANAGE_CONSENTS: ProxyScope
PROXY_SCOPE_READ_HISTORY: ProxyScope
PROXY_SCOPE_REPORT_READINGS: ProxyScope
NOTICE_KIND_UNSPECIFIED: NoticeKind
NOTICE_KIND_ACCESS_REQUESTED: NoticeKind
NOTICE_KIND_EMERGENCY_ACCESS: NoticeKind
NOTICE_KIND_RECORD_AMENDED: NoticeKind
CONSENT_CHANGE_KIND_UNSPECIFIED: ConsentChangeKind
CONSENT_CHANGE_KIND_REQUEST_APPROVED: ConsentChangeKind
CONSENT_CHANGE_KIND_REQUEST_DECLINED: ConsentChangeKind
CONSENT_CHANGE_KIND_CONSENT_GRANTED: ConsentChangeKind
CONSENT_CHANGE_KIND_CONSENT_NARROWED: ConsentChangeKind
CONSENT_CHANGE_KIND_CONSENT_REVOKED: ConsentChangeKind
DELIVERY_STATUS_UNSPECIFIED: DeliveryStatus
DELIVERY_STATUS_RECEIVED: DeliveryStatus
DELIVERY_STATUS_NOT_CONFIRMED: DeliveryStatus

class Consent(_message.Message):
    __slots__ = ("consent_id", "version", "patient_id", "grantee", "kind", "categories", "purposes", "data_period", "validity", "excepted_categories", "status", "created_by", "create_time", "revoke_time", "revoke_reason", "subject_id", "notice", "broad_categories")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DATA_PERIOD_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    EXCEPTED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    BROAD_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    version: int
    patient_id: str
    grantee: str
    kind: ConsentKind
    categories: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    data_period: _common_pb2.Period
    validity: _common_pb2.Period
    excepted_categories: _containers.RepeatedScalarFieldContainer[str]
    status: ConsentStatus
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    revoke_reason: str
    subject_id: str
    notice: _common_pb2.NoticeRef
    broad_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, consent_id: _Optional[str] = ..., version: _Optional[int] = ..., patient_id: _Optional[str] = ..., grantee: _Optional[str] = ..., kind: _Optional[_Union[ConsentKind, str]] = ..., categories: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ..., data_period: _Optional[_Union[_common_pb2.Period, _Mapping]] = ..., validity: _Optional[_Union[_common_pb2.Period, _Mapping]] = ..., excepted_categories: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_reason: _Optional[str] = ..., subject_id: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ..., broad_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class ConsentTerms(_message.Message):
    __slots__ = ("kind", "categories", "purposes", "data_period", "validity", "excepted_categories")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    DATA_PERIOD_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    EXCEPTED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    kind: ConsentKind
    categories: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    data_period: _common_pb2.Period
    validity: _common_pb2.Period
    excepted_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[ConsentKind, str]] = ..., categories: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ..., data_period: _Optional[_Union[_common_pb2.Period, _Mapping]] = ..., validity: _Optional[_Union[_common_pb2.Period, _Mapping]] = ..., excepted_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class AccessRequest(_message.Message):
    __slots__ = ("request_id", "patient_id", "requester", "terms", "reason", "status", "create_time", "expire_time", "decide_time", "decline_reason", "consent_id", "notice")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    patient_id: str
    requester: str
    terms: ConsentTerms
    reason: str
    status: AccessRequestStatus
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    decide_time: _timestamp_pb2.Timestamp
    decline_reason: str
    consent_id: str
    notice: _common_pb2.NoticeRef
    def __init__(self, request_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., requester: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., reason: _Optional[str] = ..., status: _Optional[_Union[AccessRequestStatus, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decline_reason: _Optional[str] = ..., consent_id: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class RequestAccessRequest(_message.Message):
    __slots__ = ("patient_id", "terms", "reason", "expire_time", "idempotency_key", "notice")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    terms: ConsentTerms
    reason: str
    expire_time: _timestamp_pb2.Timestamp
    idempotency_key: str
    notice: _common_pb2.NoticeRef
    def __init__(self, patient_id: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., reason: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class RequestAccessResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: AccessRequest
    def __init__(self, request: _Optional[_Union[AccessRequest, _Mapping]] = ...) -> None: ...

class GetAccessRequestRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class GetAccessRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: AccessRequest
    def __init__(self, request: _Optional[_Union[AccessRequest, _Mapping]] = ...) -> None: ...

class ListAccessRequestsRequest(_message.Message):
    __slots__ = ("patient_id", "status", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    status: AccessRequestStatus
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., status: _Optional[_Union[AccessRequestStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccessRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[AccessRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[AccessRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveAccessRequestRequest(_message.Message):
    __slots__ = ("request_id", "terms", "idempotency_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    terms: ConsentTerms
    idempotency_key: str
    def __init__(self, request_id: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class ApproveAccessRequestResponse(_message.Message):
    __slots__ = ("request", "consent", "receipt")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    request: AccessRequest
    consent: Consent
    receipt: ConsentReceipt
    def __init__(self, request: _Optional[_Union[AccessRequest, _Mapping]] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ..., receipt: _Optional[_Union[ConsentReceipt, _Mapping]] = ...) -> None: ...

class DeclineAccessRequestRequest(_message.Message):
    __slots__ = ("request_id", "reason", "idempotency_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    reason: str
    idempotency_key: str
    def __init__(self, request_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class DeclineAccessRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: AccessRequest
    def __init__(self, request: _Optional[_Union[AccessRequest, _Mapping]] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("patient_id", "grantee", "terms", "idempotency_key", "notice")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    grantee: str
    terms: ConsentTerms
    idempotency_key: str
    notice: _common_pb2.NoticeRef
    def __init__(self, patient_id: _Optional[str] = ..., grantee: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class GrantConsentResponse(_message.Message):
    __slots__ = ("consent", "receipt")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    receipt: ConsentReceipt
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., receipt: _Optional[_Union[ConsentReceipt, _Mapping]] = ...) -> None: ...

class NarrowConsentRequest(_message.Message):
    __slots__ = ("consent_id", "terms", "idempotency_key")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    terms: ConsentTerms
    idempotency_key: str
    def __init__(self, consent_id: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class NarrowConsentResponse(_message.Message):
    __slots__ = ("consent", "receipt")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    receipt: ConsentReceipt
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., receipt: _Optional[_Union[ConsentReceipt, _Mapping]] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("consent_id", "reason", "idempotency_key")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    reason: str
    idempotency_key: str
    def __init__(self, consent_id: _Optional[str] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RevokeConsentResponse(_message.Message):
    __slots__ = ("consent", "receipt")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    receipt: ConsentReceipt
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., receipt: _Optional[_Union[ConsentReceipt, _Mapping]] = ...) -> None: ...

class GetConsentRequest(_message.Message):
    __slots__ = ("consent_id",)
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    def __init__(self, consent_id: _Optional[str] = ...) -> None: ...

class GetConsentResponse(_message.Message):
    __slots__ = ("consent", "history")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    history: _containers.RepeatedCompositeFieldContainer[Consent]
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., history: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("patient_id", "include_inactive", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Proxy(_message.Message):
    __slots__ = ("patient_id", "proxy_id", "scopes", "relationship", "create_time", "expire_time", "active")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROXY_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    proxy_id: str
    scopes: _containers.RepeatedScalarFieldContainer[ProxyScope]
    relationship: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    active: bool
    def __init__(self, patient_id: _Optional[str] = ..., proxy_id: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ProxyScope, str]]] = ..., relationship: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class AddProxyRequest(_message.Message):
    __slots__ = ("patient_id", "proxy_id", "scopes", "relationship", "expire_time", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROXY_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    proxy_id: str
    scopes: _containers.RepeatedScalarFieldContainer[ProxyScope]
    relationship: str
    expire_time: _timestamp_pb2.Timestamp
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., proxy_id: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ProxyScope, str]]] = ..., relationship: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AddProxyResponse(_message.Message):
    __slots__ = ("proxy",)
    PROXY_FIELD_NUMBER: _ClassVar[int]
    proxy: Proxy
    def __init__(self, proxy: _Optional[_Union[Proxy, _Mapping]] = ...) -> None: ...

class RemoveProxyRequest(_message.Message):
    __slots__ = ("patient_id", "proxy_id", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROXY_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    proxy_id: str
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., proxy_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RemoveProxyResponse(_message.Message):
    __slots__ = ("proxy",)
    PROXY_FIELD_NUMBER: _ClassVar[int]
    proxy: Proxy
    def __init__(self, proxy: _Optional[_Union[Proxy, _Mapping]] = ...) -> None: ...

class ListProxiesRequest(_message.Message):
    __slots__ = ("patient_id",)
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    def __init__(self, patient_id: _Optional[str] = ...) -> None: ...

class ListProxiesResponse(_message.Message):
    __slots__ = ("proxies",)
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    proxies: _containers.RepeatedCompositeFieldContainer[Proxy]
    def __init__(self, proxies: _Optional[_Iterable[_Union[Proxy, _Mapping]]] = ...) -> None: ...

class AccessEvent(_message.Message):
    __slots__ = ("ledger_seq", "time", "institution_id", "role", "practitioner_id", "purpose", "record_id", "category", "allowed", "reasons", "consent_ids", "emergency", "obligations", "emergency_access_id", "delivery")
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_IDS_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_FIELD_NUMBER: _ClassVar[int]
    OBLIGATIONS_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    ledger_seq: int
    time: _timestamp_pb2.Timestamp
    institution_id: str
    role: str
    practitioner_id: str
    purpose: str
    record_id: str
    category: str
    allowed: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    consent_ids: _containers.RepeatedScalarFieldContainer[str]
    emergency: bool
    obligations: _containers.RepeatedScalarFieldContainer[str]
    emergency_access_id: str
    delivery: DeliveryStatus
    def __init__(self, ledger_seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., institution_id: _Optional[str] = ..., role: _Optional[str] = ..., practitioner_id: _Optional[str] = ..., purpose: _Optional[str] = ..., record_id: _Optional[str] = ..., category: _Optional[str] = ..., allowed: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., consent_ids: _Optional[_Iterable[str]] = ..., emergency: _Optional[bool] = ..., obligations: _Optional[_Iterable[str]] = ..., emergency_access_id: _Optional[str] = ..., delivery: _Optional[_Union[DeliveryStatus, str]] = ...) -> None: ...

class GetAccessHistoryRequest(_message.Message):
    __slots__ = ("patient_id", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetAccessHistoryResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AccessEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AccessEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportConsentRequest(_message.Message):
    __slots__ = ("consent_id",)
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    def __init__(self, consent_id: _Optional[str] = ...) -> None: ...

class ExportConsentResponse(_message.Message):
    __slots__ = ("fhir_json",)
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    fhir_json: str
    def __init__(self, fhir_json: _Optional[str] = ...) -> None: ...

class ImportConsentRequest(_message.Message):
    __slots__ = ("fhir_json", "idempotency_key", "notice")
    FHIR_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    fhir_json: str
    idempotency_key: str
    notice: _common_pb2.NoticeRef
    def __init__(self, fhir_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.NoticeRef, _Mapping]] = ...) -> None: ...

class ImportConsentResponse(_message.Message):
    __slots__ = ("consent", "receipt")
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    consent: Consent
    receipt: ConsentReceipt
    def __init__(self, consent: _Optional[_Union[Consent, _Mapping]] = ..., receipt: _Optional[_Union[ConsentReceipt, _Mapping]] = ...) -> None: ...

class GetConsentEvidenceRequest(_message.Message):
    __slots__ = ("consent_id", "version", "authorization", "page_token")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    version: int
    authorization: str
    page_token: str
    def __init__(self, consent_id: _Optional[str] = ..., version: _Optional[int] = ..., authorization: _Optional[str] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetConsentEvidenceResponse(_message.Message):
    __slots__ = ("evidence", "next_page_token")
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    evidence: _containers.RepeatedCompositeFieldContainer[ConsentEvidence]
    next_page_token: str
    def __init__(self, evidence: _Optional[_Iterable[_Union[ConsentEvidence, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ConsentEvidence(_message.Message):
    __slots__ = ("method", "token", "request", "ledger_seq", "ledger_entry", "signer", "key_id", "public_key", "consent_id", "version")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LEDGER_ENTRY_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    method: str
    token: str
    request: bytes
    ledger_seq: int
    ledger_entry: bytes
    signer: str
    key_id: str
    public_key: bytes
    consent_id: str
    version: int
    def __init__(self, method: _Optional[str] = ..., token: _Optional[str] = ..., request: _Optional[bytes] = ..., ledger_seq: _Optional[int] = ..., ledger_entry: _Optional[bytes] = ..., signer: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., consent_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PatientNotice(_message.Message):
    __slots__ = ("notice_id", "patient_id", "kind", "subject_ref", "create_time", "read_time")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REF_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    READ_TIME_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    patient_id: str
    kind: NoticeKind
    subject_ref: str
    create_time: _timestamp_pb2.Timestamp
    read_time: _timestamp_pb2.Timestamp
    def __init__(self, notice_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., kind: _Optional[_Union[NoticeKind, str]] = ..., subject_ref: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListNoticesRequest(_message.Message):
    __slots__ = ("patient_id", "unread_only", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    unread_only: bool
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., unread_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNoticesResponse(_message.Message):
    __slots__ = ("notices", "next_page_token")
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    notices: _containers.RepeatedCompositeFieldContainer[PatientNotice]
    next_page_token: str
    def __init__(self, notices: _Optional[_Iterable[_Union[PatientNotice, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkNoticesReadRequest(_message.Message):
    __slots__ = ("patient_id", "notice_ids", "idempotency_key")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    NOTICE_IDS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    notice_ids: _containers.RepeatedScalarFieldContainer[str]
    idempotency_key: str
    def __init__(self, patient_id: _Optional[str] = ..., notice_ids: _Optional[_Iterable[str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class MarkNoticesReadResponse(_message.Message):
    __slots__ = ("notices",)
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    notices: _containers.RepeatedCompositeFieldContainer[PatientNotice]
    def __init__(self, notices: _Optional[_Iterable[_Union[PatientNotice, _Mapping]]] = ...) -> None: ...

class GetEmergencyAccessRequest(_message.Message):
    __slots__ = ("emergency_id",)
    EMERGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    emergency_id: str
    def __init__(self, emergency_id: _Optional[str] = ...) -> None: ...

class GetEmergencyAccessResponse(_message.Message):
    __slots__ = ("access",)
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: _common_pb2.EmergencyAccess
    def __init__(self, access: _Optional[_Union[_common_pb2.EmergencyAccess, _Mapping]] = ...) -> None: ...

class WatchAccessRequest(_message.Message):
    __slots__ = ("patient_id", "after_seq")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    after_seq: int
    def __init__(self, patient_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class WatchAccessResponse(_message.Message):
    __slots__ = ("access", "notice", "heartbeat")
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    access: AccessEvent
    notice: PatientNotice
    heartbeat: _timestamp_pb2.Timestamp
    def __init__(self, access: _Optional[_Union[AccessEvent, _Mapping]] = ..., notice: _Optional[_Union[PatientNotice, _Mapping]] = ..., heartbeat: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchConsentChangesRequest(_message.Message):
    __slots__ = ("after_seq",)
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    def __init__(self, after_seq: _Optional[int] = ...) -> None: ...

class ConsentChange(_message.Message):
    __slots__ = ("ledger_seq", "time", "kind", "request_id", "consent_id", "consent_version", "patient_id")
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ledger_seq: int
    time: _timestamp_pb2.Timestamp
    kind: ConsentChangeKind
    request_id: str
    consent_id: str
    consent_version: int
    patient_id: str
    def __init__(self, ledger_seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[ConsentChangeKind, str]] = ..., request_id: _Optional[str] = ..., consent_id: _Optional[str] = ..., consent_version: _Optional[int] = ..., patient_id: _Optional[str] = ...) -> None: ...

class WatchConsentChangesResponse(_message.Message):
    __slots__ = ("change", "heartbeat")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    change: ConsentChange
    heartbeat: _timestamp_pb2.Timestamp
    def __init__(self, change: _Optional[_Union[ConsentChange, _Mapping]] = ..., heartbeat: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsentReceipt(_message.Message):
    __slots__ = ("statement", "signature", "key_id")
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    statement: bytes
    signature: bytes
    key_id: str
    def __init__(self, statement: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class ListConsentReceiptsRequest(_message.Message):
    __slots__ = ("consent_id", "page_size", "page_token")
    CONSENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consent_id: str
    page_size: int
    page_token: str
    def __init__(self, consent_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentReceiptsResponse(_message.Message):
    __slots__ = ("receipts", "next_page_token")
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[ConsentReceipt]
    next_page_token: str
    def __init__(self, receipts: _Optional[_Iterable[_Union[ConsentReceipt, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PreviewConsentRequest(_message.Message):
    __slots__ = ("patient_id", "grantee", "terms", "role")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    grantee: str
    terms: ConsentTerms
    role: str
    def __init__(self, patient_id: _Optional[str] = ..., grantee: _Optional[str] = ..., terms: _Optional[_Union[ConsentTerms, _Mapping]] = ..., role: _Optional[str] = ...) -> None: ...

class PreviewGroup(_message.Message):
    __slots__ = ("category", "holder", "purpose", "record_count", "reasons")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    category: str
    holder: str
    purpose: str
    record_count: int
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, category: _Optional[str] = ..., holder: _Optional[str] = ..., purpose: _Optional[str] = ..., record_count: _Optional[int] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class PreviewConsentResponse(_message.Message):
    __slots__ = ("shared", "withheld", "ledger_seq")
    SHARED_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    shared: _containers.RepeatedCompositeFieldContainer[PreviewGroup]
    withheld: _containers.RepeatedCompositeFieldContainer[PreviewGroup]
    ledger_seq: int
    def __init__(self, shared: _Optional[_Iterable[_Union[PreviewGroup, _Mapping]]] = ..., withheld: _Optional[_Iterable[_Union[PreviewGroup, _Mapping]]] = ..., ledger_seq: _Optional[int] = ...) -> None: ...
