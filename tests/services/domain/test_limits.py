"""Every field a caller can fill has a documented limit: the tables in domain/limits.py cover
every string, bytes and repeated field of every request, and docs/limits.md states each one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from consentry.services.domain.limits import MAX_BYTES, MAX_CHARS, MAX_ITEMS
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2

DOCS = Path(__file__).resolve().parents[3] / "docs" / "limits.md"
REQUESTS = [m.input_type for module in (audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2)
            for service in module.DESCRIPTOR.services_by_name.values() for m in service.methods]


def fields(message: Descriptor) -> Iterator[FieldDescriptor]:
    """Every field a request can carry, nested messages included (Timestamps are checked whole)."""
    for field in message.fields:
        yield field
        if field.message_type is not None and field.message_type.full_name != "google.protobuf.Timestamp":
            yield from fields(field.message_type)


def unlimited() -> list[str]:
    missing = []
    for request in REQUESTS:
        for field in fields(request):
            table = {FieldDescriptor.TYPE_STRING: MAX_CHARS, FieldDescriptor.TYPE_BYTES: MAX_BYTES}.get(field.type)
            if table is not None and field.name not in table:
                missing.append(f"{field.full_name}: no length limit")
            if field.is_repeated and field.name not in MAX_ITEMS:
                missing.append(f"{field.full_name}: no item limit")
    return missing


def test_every_field_of_every_request_has_a_limit():
    assert REQUESTS and unlimited() == []


def documented() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|$", DOCS.read_text(), re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("name", sorted(set(MAX_ITEMS) | set(MAX_CHARS) | set(MAX_BYTES)))
def test_docs_state_each_limit(name):
    row = documented().get(name)
    assert row is not None, f"docs/limits.md has no row for `{name}`"
    if name in MAX_ITEMS:
        assert f"{MAX_ITEMS[name]} items" in row
    if name in MAX_CHARS:
        assert f"{MAX_CHARS[name]} characters" in row
    if name in MAX_BYTES:
        assert f"{MAX_BYTES[name]} bytes" in row
