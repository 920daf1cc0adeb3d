import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmergencyReviewOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED: _ClassVar[EmergencyReviewOutcome]
    EMERGENCY_REVIEW_OUTCOME_JUSTIFIED: _ClassVar[EmergencyReviewOutcome]
    EMERGENCY_REVIEW_OUTCOME_NOT_JUSTIFIED: _ClassVar[EmergencyReviewOutcome]
    EMERGENCY_REVIEW_OUTCOME_REFERRED: _ClassVar[EmergencyReviewOutcome]
EMERGENCY_REVIEW_OUTCOME_UNSPECIFIED: EmergencyReviewOutcome
EMERGENCY_REVIEW_OUTCOME_JUSTIFIED: EmergencyReviewOutcome
EMERGENCY_REVIEW_OUTCOME_NOT_JUSTIFIED: EmergencyReviewOutcome
EMERGENCY_REVIEW_OUTCOME_REFERRED: EmergencyReviewOutcome

class Period(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NoticeRef(_message.Message):
    __slots__ = ("notice_id", "version", "content_hash")
    NOTICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    notice_id: str
    version: int
    content_hash: bytes
    def __init__(self, notice_id: _Optional[str] = ..., version: _Optional[int] = ..., content_hash: _Optional[bytes] = ...) -> None: ...

class EmergencyAccess(_message.Message):
    __slots__ = ("emergency_id", "patient_id", "recipient", "practitioner_id", "role", "holders", "record_ids", "justification", "access_time", "review_due_time", "overdue", "outcome", "reviewer", "review_time", "review_comment")
    EMERGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    PRACTITIONER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    REVIEW_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    REVIEW_COMMENT_FIELD_NUMBER: _ClassVar[int]
    emergency_id: str
    patient_id: str
    recipient: str
    practitioner_id: str
    role: str
    holders: _containers.RepeatedScalarFieldContainer[str]
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    justification: str
    access_time: _timestamp_pb2.Timestamp
    review_due_time: _timestamp_pb2.Timestamp
    overdue: bool
    outcome: EmergencyReviewOutcome
    reviewer: str
    review_time: _timestamp_pb2.Timestamp
    review_comment: str
    def __init__(self, emergency_id: _Optional[str] = ..., patient_id: _Optional[str] = ..., recipient: _Optional[str] = ..., practitioner_id: _Optional[str] = ..., role: _Optional[str] = ..., holders: _Optional[_Iterable[str]] = ..., record_ids: _Optional[_Iterable[str]] = ..., justification: _Optional[str] = ..., access_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue: _Optional[bool] = ..., outcome: _Optional[_Union[EmergencyReviewOutcome, str]] = ..., reviewer: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., review_comment: _Optional[str] = ...) -> None: ...
