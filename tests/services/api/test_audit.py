"""AuditService requests that cannot be answered are refused with the field that was wrong."""

from __future__ import annotations

import grpc
import pytest
from harness import field_violations

from consentry.v1 import audit_pb2


def refused(call, request) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return field_violations(err.value)


def test_proof_sizes_beyond_the_ledger_are_refused(harness):
    auditor = harness.auditor()
    size = auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint.tree_size
    assert refused(auditor.client.audit.GetInclusionProof,
                   audit_pb2.GetInclusionProofRequest(seq=size, tree_size=size)) == {
        "seq": "must be below tree_size, which must not exceed the ledger size"}
    assert refused(auditor.client.audit.GetConsistencyProof,
                   audit_pb2.GetConsistencyProofRequest(old_size=1, new_size=size + 10**6)) == {
        "old_size": "must satisfy 0 < old_size <= new_size <= ledger size"}
    assert refused(auditor.client.audit.GetConsistencyProof, audit_pb2.GetConsistencyProofRequest(old_size=0)) == {
        "old_size": "must satisfy 0 < old_size <= new_size <= ledger size"}


def test_entry_pages_are_bounded(harness):
    auditor = harness.auditor()
    assert refused(auditor.client.audit.ListEntries, audit_pb2.ListEntriesRequest(page_size=1001)) == {
        "page_size": "must be between 0 and 1000"}

