"""Privacy after the whole story: no clinical plaintext in the database, no raw patient id in the
ledger, and neither in any log line or any error the story provoked.

The story: deposit the four discharge records, grant, fetch (shared and withheld), a purpose the
consent does not cover, a research registry without consent, revoke, fetch again, history,
erase one record, fetch the erased one, and a series of refused calls (bad input, wrong caller,
forged token, double erase, unknown patient)."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import grpc
import jwt
import pytest
from grpc_status import rpc_status
from harness import NONCE, grant
from nacl.signing import SigningKey

from consentry.services.api.call_log import JsonLines
from consentry.services.cli.demo import discharge_records
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

FRAGMENTS = ["pneumonia", "amoxicillin", "C reactive protein", "Liaison psychiatry", "three times daily",
             "Discharge summary: community-acquired", "mg/L"]
LEDGER_TABLES = ["ledger_entries", "ledger_nodes", "ledger_head", "ledger_checkpoints", "ledger_subjects"]
# Tables that could hold clinical content by mistake (PostgreSQL; on SQLite the whole file is read).
CONTENT_TABLES = ["records", *LEDGER_TABLES, "idempotent_calls", "consents", "access_requests", "token_uses",
                  "principal_keys", "persons", "institutions", "proxies"]


class ErrorLog:
    """Runs calls that must be refused and keeps every byte of what came back."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.codes: list[grpc.StatusCode] = []

    def refused(self, call, *args, **kw) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as info:
            _call_to_the_end(call, *args, **kw)
        error = info.value
        self.codes.append(error.code())
        self.texts += [error.details() or "", error.debug_error_string() or ""]
        status = rpc_status.from_call(error)
        if status is not None:
            self.texts.append(status.message)
            self.texts += [d.value.decode("utf-8", "replace") for d in status.details]
        self.texts += [f"{k}={v!r}" for k, v in (error.trailing_metadata() or ())]
        return error.code()


def _call_to_the_end(call, *args, **kw) -> None:
    """Make the call and, when it streams, read the whole stream: a stream's error comes while reading."""
    result = call(*args, **kw)
    if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
        list(result)


def _fetch(org, patient_id, purpose, harness, **kw):
    return list(org.client.fetch(patient_id, purpose, recipient_key=org.encryption,
                                 service_key=harness.service_key, **kw))


def _withheld(outcomes) -> set[str]:
    assert not any(r.shared for r in outcomes)
    return {r.record_id for r in outcomes}


def play_story(harness, errors: ErrorLog) -> dict:
    hospital = harness.org()
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen")
    registry = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher")
    patient, other = harness.patient(), harness.patient()
    bodies = discharge_records(patient.id)
    ids = {}
    for title, body in bodies.items():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
        ids[title] = reply.record.record_id

    consent = grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    got = _fetch(doctor, patient.id, "TREAT", harness, prove=True, ledger_key=harness.app.ledger_verifier_key)
    assert sum(r.shared for r in got) == 3  # the story really disclosed plaintext to the recipient
    assert any(b"pneumonia" in r.body for r in got if r.shared)
    not_sensitive = {record_id for title, record_id in ids.items() if title != "psychiatric note"}
    assert _withheld(_fetch(doctor, patient.id, "HPAYMT", harness)) == not_sensitive  # denied purpose
    # No consent at all, and after revocation none left: refused outright.
    errors.refused(registry.client.exchange.FetchRecords,
                   exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="HRESCH", nonce=NONCE))
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(
        consent_id=consent.consent_id, reason="changed family doctor"))
    errors.refused(doctor.client.exchange.FetchRecords,
                   exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="TREAT", nonce=NONCE))
    history = patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    assert len(history.events) >= 8
    patient.client.audit.ListEntries(audit_pb2.ListEntriesRequest(patient_id=patient.id))
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(
        record_id=ids["lab results"], reason="entered for the wrong patient"))
    grant(patient, doctor, ["lab"])
    assert _fetch(doctor, patient.id, "TREAT", harness, categories=("lab",)) == []  # no longer the patient's

    # -- refused calls, with the patient id and clinical text in the bad input -----------------
    x = errors
    ex = hospital.client.exchange
    x.refused(ex.PutRecord, exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=b"pneumonia amoxicillin {"))
    x.refused(ex.PutRecord, exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=bodies["medication list"],
                                                          category="C reactive protein"))
    x.refused(ex.PutRecord, exchange_pb2.PutRecordRequest(patient_id=other.id, fhir_json=bodies["discharge summary"]))
    x.refused(ex.PutRecord, exchange_pb2.PutRecordRequest(patient_id=patient.id + " pneumonia",
                                                          fhir_json=bodies["lab results"]))
    x.refused(ex.PutRecord, exchange_pb2.PutRecordRequest(patient_id=patient.id, labels=["Liaison psychiatry"],
                                                          fhir_json=bodies["psychiatric note"]))
    x.refused(registry.client.exchange.PutRecord, exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                                 fhir_json=bodies["lab results"]))
    x.refused(doctor.client.exchange.FetchRecords, exchange_pb2.FetchRecordsRequest(
        patient_id=patient.id, purpose="pneumonia", categories=["amoxicillin"], record_ids=[patient.id], nonce=NONCE))
    x.refused(doctor.client.exchange.FetchRecords, exchange_pb2.FetchRecordsRequest(
        patient_id=patient.id, purpose="ETREAT", emergency=exchange_pb2.Emergency(declared=True, justification=""),
        nonce=NONCE))
    x.refused(doctor.client.exchange.FetchRecords, exchange_pb2.FetchRecordsRequest(
        patient_id="P" + secrets.token_hex(5), purpose="TREAT", nonce=NONCE))
    x.refused(patient.client.exchange.FetchRecords,
              exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="TREAT", nonce=NONCE))
    x.refused(other.client.exchange.ListRecords, exchange_pb2.ListRecordsRequest(patient_id=patient.id))
    x.refused(other.client.consent.GetAccessHistory, consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    x.refused(doctor.client.audit.ListEntries, audit_pb2.ListEntriesRequest())
    x.refused(patient.client.consent.GrantConsent, consent_pb2.GrantConsentRequest(
        patient_id=patient.id, grantee=doctor.id, notice=doctor.notice, terms=consent_pb2.ConsentTerms(
            categories=["pneumonia"], purposes=["amoxicillin"])))
    x.refused(ex.EraseRecord, exchange_pb2.EraseRecordRequest(record_id=ids["lab results"], reason="again"))
    x.refused(ex.EraseRecord, exchange_pb2.EraseRecordRequest(record_id=ids["discharge summary"], reason=""))
    # A forged token in the patient's name, and one from an unknown key, and garbage.
    impostor = Client(harness.target, Caller("patient:" + patient.id, SigningKey.generate()))
    x.refused(impostor.consent.GetAccessHistory, consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    impostor.close()
    stranger = Client(harness.target, Caller("org:" + patient.id, SigningKey.generate()))
    x.refused(stranger.exchange.FetchRecords,
              exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="TREAT", nonce=NONCE))
    stranger.close()
    garbage = jwt.encode({"iss": "patient:" + patient.id, "sub": "pneumonia"}, "x" * 32, algorithm="HS256")
    channel = grpc.insecure_channel(harness.target)
    from consentry.v1 import consent_pb2_grpc

    stub = consent_pb2_grpc.ConsentServiceStub(channel)
    x.refused(stub.GetAccessHistory, consent_pb2.GetAccessHistoryRequest(patient_id=patient.id),
              metadata=[("authorization", "Bearer " + garbage)])
    x.refused(stub.GetAccessHistory, consent_pb2.GetAccessHistoryRequest(patient_id=patient.id))
    channel.close()
    assert len(x.codes) >= 15 and grpc.StatusCode.UNAUTHENTICATED in x.codes
    return {"patient": patient.id, "record_ids": ids, "bodies": bodies}


def _found(haystack: bytes, needles) -> list[str]:
    low = haystack.lower()
    return [n for n in needles if n.lower().encode() in low]


def _table_rows(harness, table: str) -> list:
    return harness.sql(f"SELECT * FROM {table}")  # noqa: S608  (table: one of this module's constants)


def _row_bytes(row) -> bytes:
    return b"|".join(_as_bytes(v) for v in row)


def _as_bytes(value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def test_no_plaintext_or_patient_id_leaks(harness, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # every logger, every level, server included (same process)
    errors = ErrorLog()
    story = play_story(harness, errors)
    patient_id = story["patient"]
    for fragment in FRAGMENTS:  # the search terms really are in the bodies
        assert any(fragment.encode() in body for body in story["bodies"].values()), fragment
    harness.app.db.dispose()  # nothing held open; the WAL stays on disk (no checkpoint on close forced)

    # (a) the database holds no clinical plaintext
    if harness.backend == "sqlite":
        db_file = Path(harness.settings.database_url.removeprefix("sqlite:///"))
        files = [p for p in db_file.parent.glob(db_file.name + "*") if p.is_file()]
        assert db_file in files
        blob = b"".join(p.read_bytes() for p in files)
        assert patient_id.encode() in blob  # sanity: the search reads the real database
        assert _found(blob, FRAGMENTS) == [], "clinical plaintext in the SQLite files"
    else:
        for table in CONTENT_TABLES:
            blob = b"\n".join(_row_bytes(row) for row in _table_rows(harness, table))
            assert _found(blob, FRAGMENTS) == [], f"clinical plaintext in table {table}"
        records = harness.sql("SELECT patient_id FROM records")
        assert any(r[0] == patient_id for r in records)  # sanity

    # (b) the ledger never names the patient: tables, and every entry as an auditor reads it
    for table in LEDGER_TABLES:
        rows = _table_rows(harness, table)
        blob = b"\n".join(_row_bytes(row) for row in rows)
        leaking = [row for row in rows if _found(_row_bytes(row), [patient_id, *FRAGMENTS])]
        assert _found(blob, [patient_id, *FRAGMENTS]) == [], f"patient id or plaintext in {table}: {leaking}"
    summaries = harness.flush_refusals()
    entries = harness.entries()
    mine = [e for e in entries if e.get("record") in story["record_ids"].values()]
    assert len(mine) >= 10  # sanity: the story's entries are there
    # The forged "org:<patient id>" token and the others were counted, naming no one.
    assert [(e["kind"], e["actor"]) for e in summaries] == [("auth.refused", "anonymous")]
    assert summaries[0]["count"] >= 4
    text = json.dumps(entries).encode()
    assert _found(text, [patient_id, *FRAGMENTS]) == []

    # (c) no log line and no error names the patient or carries clinical text
    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    out, err = capfd.readouterr()
    assert caplog.records, "nothing was logged; the capture is not working"
    # Each record as `serve` writes it, a JSON line with its call's fields (api/call_log.py).
    lines = [JsonLines().format(r) for r in caplog.records]
    calls = [json.loads(line) for line in lines if '"method":' in line]
    assert {c["method"] for c in calls} >= {"/consentry.v1.ExchangeService/FetchRecords"}  # the fetches, too
    assert all(set(c) >= {"request_id", "principal", "method", "code", "duration_ms"} for c in calls)
    logged += "\n" + "\n".join(lines)
    assert _found((logged + out + err).encode(), [patient_id, *FRAGMENTS]) == [], "leak in logs"
    assert errors.texts
    assert _found("\n".join(errors.texts).encode(), [patient_id, *FRAGMENTS]) == [], "leak in error details"
