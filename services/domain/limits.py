"""The most any request may carry, checked before anything else in a call (docs/limits.md).

Every string and bytes field has a length limit and every repeated field a count limit, by field
name. A list that is too long is one violation and its items are not looked at, so a refusal
stays small however large the request. Besides: every timestamp is one the service can store
(1678-01-01 to 2261-12-31, nanos within a second), every enum one of its declared values, every
unsigned integer within a database integer, and no string holds a control character other than
tab, line feed and carriage return (PostgreSQL cannot store NUL; no field needs the others).

The request validators (*_requests.py) then check what each field must mean. Violations name
the field by its path in the request, with our own indices, never its value.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from consentry.services.config import DEFAULT_MAX_BODY_BYTES
from consentry.services.crypto.share_header import FETCH_NONCE_BYTES
from consentry.services.domain.fhir_consent import MAX_JSON_CHARS
from consentry.services.domain.patient_identifiers import MAX_IDENTIFIERS
from consentry.services.domain.privacy_notices import MAX_PART_CHARS
from consentry.services.domain.records import MAX_LABELS
from consentry.services.domain.validation import MAX_TEXT, TIME_RANGE, Violations, storable_ns

# Items in a repeated field.
MAX_ITEMS: dict[str, int] = {
    "record_ids": 1000, "categories": 32, "excepted_categories": 32, "purposes": 16, "labels": MAX_LABELS,
    "scopes": 4, "roles": 8, "identifiers": MAX_IDENTIFIERS, "notice_ids": 100, "texts": 2,
}
# Characters in a string field (each item, for a repeated one).
MAX_CHARS: dict[str, int] = {
    "patient_id": 128, "proxy_id": 128, "institution_id": 64, "grantee": 64, "auditor_id": 64,
    "consent_id": 36, "request_id": 36, "record_id": 36, "record_ids": 36, "key_id": 80,
    "idempotency_key": 128, "page_token": 64, "purpose": 16, "purposes": 16, "category": 32,
    "categories": 32, "excepted_categories": 32, "labels": 32, "relationship": 64, "display_name": 200,
    "practitioner_id": 64, "roles": 32, "role": 32, "authorization": 64, "subject_id": 32, "system": 256, "value": 128,
    "notice_ids": 36, "notice_id": 36, "emergency_id": 36, "comment": MAX_TEXT, "language": 16,
    "recipient_legal_name": MAX_PART_CHARS, "recipient_contact": MAX_PART_CHARS, "purpose_description": MAX_PART_CHARS,
    "handling_method": MAX_PART_CHARS, "necessity_and_impact": MAX_PART_CHARS, "retention": MAX_PART_CHARS,
    "how_to_withdraw": MAX_PART_CHARS, "reason": MAX_TEXT, "justification": MAX_TEXT, "fhir_json": MAX_JSON_CHARS,
    "holder": 64, "representative_id": 128, "evidence_type": 32, "evidence_hash": 64, "refusal_reason": 32,
    "explanation": MAX_TEXT, "text": MAX_TEXT, "code": 64,
}
# Bytes in a bytes field. A deposit's `fhir_json` is held to the server's setting
# (CONSENTRY_MAX_BODY_BYTES, config.py); this is its default.
MAX_BYTES: dict[str, int] = {
    "fhir_json": DEFAULT_MAX_BODY_BYTES, "identity_public_key": 32, "encryption_public_key": 32, "public_key": 32,
    "nonce": FETCH_NONCE_BYTES[1], "content_hash": 32, "proof": 64,
}
# What a field missing from the tables gets (tests/services/domain/test_limits.py keeps the
# tables complete, so this is a floor for a field added without a thought, not a policy).
DEFAULT_ITEMS, DEFAULT_CHARS, DEFAULT_BYTES = 16, 256, 256
# Database integers are signed 64-bit.
MAX_UNSIGNED = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_limits(request: Message, body_limit: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Raises InvalidArgument naming every field of `request` (nested ones too) past its limit;
    a deposit's body may hold `body_limit` bytes."""
    v = Violations()
    _message(v, "", request, {**MAX_BYTES, "fhir_json": body_limit})
    v.raise_if_any()


def _message(v: Violations, prefix: str, message: Message, max_bytes: dict[str, int]) -> None:
    if isinstance(message, Timestamp):
        _timestamp(v, prefix.rstrip("."), message)
        return
    for field, value in message.ListFields():
        path = prefix + field.name
        if not field.is_repeated:
            _value(v, path, field, value, max_bytes)
            continue
        limit = MAX_ITEMS.get(field.name, DEFAULT_ITEMS)
        if len(value) > limit:
            v.add(path, f"must hold at most {limit} items")
            continue
        for i, item in enumerate(value):
            _value(v, f"{path}[{i}]", field, item, max_bytes)


def _value(v: Violations, path: str, field: FieldDescriptor, value: object, max_bytes: dict[str, int]) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        limit = MAX_CHARS.get(field.name, DEFAULT_CHARS)
        if len(value) > limit:
            v.add(path, f"must be at most {limit} characters")
        elif _CONTROL.search(value):
            v.add(path, "must not contain control characters")
    elif field.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        limit = max_bytes.get(field.name, DEFAULT_BYTES)
        v.check(len(value) <= limit, path, f"must be at most {limit} bytes")
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        _message(v, path + ".", value, max_bytes)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        declared = field.enum_type.values_by_number if field.enum_type else {}
        v.check(value in declared, path, "must be one of the enum's declared values")
    elif field.type == FieldDescriptor.TYPE_UINT64:
        assert isinstance(value, int)
        v.check(value <= MAX_UNSIGNED, path, f"must be at most {MAX_UNSIGNED}")


def _timestamp(v: Violations, path: str, ts: Timestamp) -> None:
    if v.check(0 <= ts.nanos <= 999_999_999, path + ".nanos", "must be from 0 to 999999999"):
        v.check(storable_ns(ts.seconds * 1_000_000_000 + ts.nanos), path, TIME_RANGE)
