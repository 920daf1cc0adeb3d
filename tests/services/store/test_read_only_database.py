"""PostgreSQL switched read-only under a running server (as during a fail-over, when the old
primary becomes a standby): every call fails UNAVAILABLE ("retrying is safe"), never INTERNAL,
nothing is changed or disclosed, and once the database takes writes again the same server
carries on with a whole ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from backends import pg_schema
from harness import Harness, grant
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},"category":[{"coding":[{"code":"laboratory"}]}]}')


@contextmanager
def own_role(url: str, schema: str) -> Iterator[tuple[str, str]]:
    """A login role of the test's own, owning its schema: the server connects as it, so that
    switching the role read-only touches no other connection. Yields (server url, role)."""
    role = f"ro_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"'))
    try:
        yield make_url(url).set(username=role).render_as_string(hide_password=False), role
    finally:
        with admin.begin() as conn:
            _end_sessions(conn, role)
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))  # pg_schema drops it again
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _end_sessions(conn, role: str) -> None:
    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})


def switch(url: str, role: str, *, read_only: bool) -> None:
    """What a fail-over does to the server's connections: they are cut, and the database they
    reach again takes no writes (or, switched back, takes them again)."""
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = {"on" if read_only else "off"}'))
        _end_sessions(conn, role)
    admin.dispose()


@pytest.mark.postgres
def test_a_read_only_database_is_unavailable_and_loses_nothing(tmp_path):
    with pg_schema("ro") as (url, schema), own_role(url, schema) as (server_url, role):
        harness = Harness.start(tmp_path / "data", server_url)
        try:
            hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
            consent = grant(patient, doctor, ["lab"])
            before = len(harness.raw_ledger())

            switch(url, role, read_only=True)
            calls = {
                "fetch": lambda: list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                          service_key=harness.service_key)),
                "revoke": lambda: patient.client.consent.RevokeConsent(
                    consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id)),
                "read": lambda: harness.operator.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()),
            }
            for name, call in calls.items():
                with pytest.raises(grpc.RpcError) as err:
                    call()
                assert (name, err.value.code()) == (name, grpc.StatusCode.UNAVAILABLE)
                assert "nothing was changed or disclosed" in err.value.details()

            switch(url, role, read_only=False)
            [record] = calls["fetch"]()
            assert record.shared  # the revoke that failed changed nothing
            ledger = harness.raw_ledger()
            assert len(ledger) > before
            auditor = harness.auditor()
            checkpoint = auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
            verify_log(harness.raw_ledger()[: checkpoint.tree_size], checkpoint.note,
                       NoteVerifier.from_key(harness.app.ledger_verifier_key))
        finally:
            harness.stop()
