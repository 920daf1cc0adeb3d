"""Erasure that unlinks, over gRPC on both backends: the erased record's row keeps nothing that
names the patient or describes the content, its deposit entries become tombstones that a
`ledger.redacted` entry accounts for, the ledger still verifies offline (and through `consentry
audit verify`), and no database file holds the body, the data key or the KEK's wrapped key; the
wrapped key a copy of the database kept no longer opens, even with the KEK."""

from __future__ import annotations

import json
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from harness import Harness
from sqlalchemy import create_engine, text

from consentry.ledger import tombstone_commitment
from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import at_rest
from consentry.services.crypto.errors import DecryptionFailed
from consentry.v1 import audit_pb2, exchange_pb2, rights_pb2

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]


def deposit_and_erase_parts(harness: Harness):
    hospital, patient = harness.org(), harness.patient()
    body = discharge_records(patient.id)["psychiatric note"]
    put = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=body, category="mental-health"))
    return hospital, patient, body, put


def erase(person, record_id: str):
    return person.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=record_id, reason="withdrawn"))


def row(harness: Harness, record_id: str) -> dict:
    [found] = harness.sql("SELECT patient_id, category, labels, label_reasons, content_hash, effective_ns,"
                          " ciphertext, wrapped_key FROM records WHERE record_id = :r", r=record_id)
    out = dict(found._mapping)
    if isinstance(out["labels"], str):
        out["labels"] = json.loads(out["labels"])
    return out


def test_an_erased_record_keeps_nothing_that_names_or_describes_the_patient(harness):
    hospital, patient, _body, put = deposit_and_erase_parts(harness)
    before = row(harness, put.record.record_id)
    assert before["patient_id"] == patient.id and before["category"] == "mental-health" and before["labels"]
    erase(patient, put.record.record_id)
    assert row(harness, put.record.record_id) == {
        "patient_id": "", "category": "", "labels": [], "label_reasons": None, "content_hash": None,
        "effective_ns": None, "ciphertext": None, "wrapped_key": None}
    # The holder still accounts for what it filed and erased; the patient no longer sees it.
    [held] = [r for r in hospital.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(
        patient_id=patient.id)).records if r.record_id == put.record.record_id] or [None]
    assert held is None
    listed = patient.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=patient.id)).records
    assert put.record.record_id not in {r.record_id for r in listed}


def test_the_texts_of_a_correction_go_with_the_record_and_the_request_stays(harness):
    hospital, patient, _body, put = deposit_and_erase_parts(harness)
    request = patient.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
        patient_id=patient.id, record_id=put.record.record_id, reason="inaccurate",
        text="the note names the wrong medication")).request
    hospital.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request.request_id, refusal_reason="other", explanation="checked with the author"))
    texts = "SELECT correction_text, explanation, status FROM rights_requests WHERE request_id = :r"
    [(text, explanation, _status)] = harness.sql(texts, r=request.request_id)
    assert text is not None and explanation is not None
    erase(patient, put.record.record_id)
    assert harness.sql(texts, r=request.request_id) == [(None, None, "refused")]
    [kept] = [r for r in patient.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests if r.request_id == request.request_id]
    assert kept.refusal_reason == "other" and not kept.correction_text and not kept.explanation


def test_the_deposit_entry_becomes_a_tombstone_and_the_ledger_verifies(harness, tmp_path):
    hospital, patient, _body, put = deposit_and_erase_parts(harness)
    kept = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=discharge_records(patient.id)["discharge summary"]))
    deposited = harness.raw_ledger()[put.ledger_seq]
    assert b"mental-health" in deposited
    reply = erase(patient, put.record.record_id)
    raw = harness.raw_ledger()
    stone = raw[put.ledger_seq]
    assert tombstone_commitment(stone) is not None and b"mental-health" not in stone
    assert json.loads(stone)["seq"] == put.ledger_seq
    [redaction] = [json.loads(e) for e in raw[reply.ledger_seq:] if b'"kind":"ledger.redacted"' in e
                   and put.ledger_seq in json.loads(e)["seqs"]]
    assert redaction["reason"] == "erasure" and redaction["seq"] > reply.ledger_seq
    assert redaction["actor"] == "patient:" + harness.pseudonym(patient.id)
    # The patient's history index no longer lists the tombstone.
    assert not harness.sql("SELECT seq FROM ledger_subjects WHERE seq = :s", s=put.ledger_seq)
    # The ledger verifies independently: the offline verifier through the real CLI.
    auditor = harness.auditor()
    auditor.client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True))
    key = subprocess.run([*CONSENTRY, "audit", "key", "--data-dir", str(harness.settings.data_dir)],
                         capture_output=True, text=True, check=True).stdout.strip()
    export = tmp_path / "export"
    done = subprocess.run([*CONSENTRY, "audit", "export", "--target", harness.target, "--data-dir",
                           str(harness.settings.data_dir), "--out", str(export), "--state", str(tmp_path / "s"),
                           "--format", "fhir-auditevent"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stone in (export / "entries.jsonl").read_bytes().splitlines()
    # The AuditEvent export is valid FHIR; the tombstone has no event, the kept deposit its own.
    bundle = json.loads((export / "auditevents.json").read_text())
    Bundle.model_validate(bundle)
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert f"ledger-{put.ledger_seq}" not in ids and f"ledger-{kept.ledger_seq}" in ids
    verified = subprocess.run([*CONSENTRY, "audit", "verify", str(export), "--key", key, "--state",
                               str(tmp_path / "v")], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stderr
    # A tombstone no redaction accounts for is refused by the same command.
    lines = (export / "entries.jsonl").read_bytes().splitlines(keepends=True)
    victim = kept.ledger_seq
    entry = json.loads(lines[victim])
    forged = (b'{"prev":"%s","redacted":"%s","seq":%d}\n'
              % (entry["prev"].encode(), sha256(lines[victim][:-1]).hexdigest().encode(), victim))
    (export / "entries.jsonl").write_bytes(b"".join([*lines[:victim], forged, *lines[victim + 1:]]))
    refused = subprocess.run([*CONSENTRY, "audit", "verify", str(export), "--key", key, "--state",
                              str(tmp_path / "w")], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and f"entry {victim} " in refused.stderr and "ledger.redacted" in refused.stderr


# ---------------------------------------------------------------- the database's files


def sqlite_files(harness: Harness) -> list[Path]:
    path = Path(harness.settings.database_url.removeprefix("sqlite:///"))
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


def pg_scan(harness: Harness) -> tuple[bytes, bytes | None]:
    """(heap files of the touched tables after a checkpoint, pg_wal or None when unreadable)."""
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CHECKPOINT"))  # what the buffers hold reaches the files
            base = Path(conn.execute(text("SHOW data_directory")).scalar())
            paths = conn.execute(text(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid IN (to_regclass('records'),"
                " to_regclass('ledger_entries')) OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE oid IN"
                " (to_regclass('records'), to_regclass('ledger_entries')))")).scalars().all()
    finally:
        engine.dispose()
    heap = b"".join(p.read_bytes() for rel in paths for p in sorted((base / rel).parent.glob(Path(rel).name + "*"))
                    if p.name == Path(rel).name or p.name.startswith(Path(rel).name + "."))
    try:
        wal = b"".join(p.read_bytes() for p in sorted((base / "pg_wal").iterdir()) if p.is_file())
    except PermissionError:
        wal = None
    return heap, wal


def test_after_an_erasure_no_database_file_holds_the_body_or_its_keys(harness):
    _hospital, patient, body, put = deposit_and_erase_parts(harness)
    rid = put.record.record_id
    before = row(harness, rid)
    shielded, ciphertext = bytes(before["wrapped_key"]), bytes(before["ciphertext"])
    context = at_rest.key_context(rid)
    inner = harness.app.kek.unshield(shielded, context)  # the KEK's wrapped key
    data_key = harness.app.kek.unwrap(shielded, context)
    deposited = harness.raw_ledger()[put.ledger_seq]
    secrets_ = {"body": body, "KEK-wrapped key": inner, "data key": data_key}
    stored = {"shielded key": shielded, "ciphertext": ciphertext, "deposit entry": deposited}

    # The scans see what is there: before the erasure, the stored values are found.
    if harness.backend == "sqlite":
        files = b"".join(p.read_bytes() for p in sqlite_files(harness))
        assert all(value in files for value in stored.values())
    else:
        heap, _wal = pg_scan(harness)
        assert all(value in heap for value in stored.values())
    assert not any(value in (files if harness.backend == "sqlite" else heap) for value in secrets_.values())

    erase(patient, rid)
    if harness.backend == "sqlite":
        files = b"".join(p.read_bytes() for p in sqlite_files(harness))
        found = [name for name, value in {**secrets_, **stored}.items() if value in files]
        assert found == []
    else:
        # VACUUM removed the dead row versions, but leaves their bytes in the pages' free space
        # until it is reused: the shielded key and the ciphertext may still be read there, never
        # what could open them (docs/erasure.md).
        heap, wal = pg_scan(harness)
        assert [name for name, value in secrets_.items() if value in heap] == []
        if wal is None:
            pytest.skip("pg_wal is not readable by this user; the heap files were checked")
        # The WAL still carries the insert of the shielded key and the ciphertext (docs/erasure.md),
        # never what could open them.
        assert [name for name, value in secrets_.items() if value in wal] == []

    # A copy made before the erasure holds the shielded key; the KEK alone no longer opens it.
    from hashlib import sha256
    assert not (harness.settings.data_dir / "record-keys" / sha256(context).hexdigest()).exists()
    with pytest.raises(DecryptionFailed):
        harness.app.kek.unwrap(shielded, context)


def test_a_record_key_an_interrupted_erasure_left_is_destroyed_at_start(harness):
    from hashlib import sha256

    from consentry.services.domain import erasure as erasure_domain

    _hospital, patient, _body, put = deposit_and_erase_parts(harness)
    path = harness.settings.data_dir / "record-keys" / sha256(at_rest.key_context(put.record.record_id)).hexdigest()
    left = path.read_bytes()
    erase(patient, put.record.record_id)
    assert not path.exists()
    path.write_bytes(left)  # as if the server stopped between the commit and the key's destruction
    path.chmod(0o600)
    assert erasure_domain.destroy_leftover_keys(harness.app.db, harness.app.kek) >= 1
    assert not path.exists()
    assert erasure_domain.destroy_leftover_keys(harness.app.db, harness.app.kek) == 0
