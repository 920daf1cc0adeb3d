"""A backup taken while the server runs, restored after the deployment is lost: the restored
server serves the same records under the same keys, its ledger verifies against a fresh signed
checkpoint and extends what an auditor trusted before the backup, and an auditor who trusted a
checkpoint taken after the backup sees the rollback (docs/operations.md, "Backup and restore").

On PostgreSQL the database is dumped with pg_dump first, as the operations guide says, and
`consentry backup` then takes the files; on SQLite `consentry backup` takes both."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from backends import BACKENDS, PG_URL, database
from cli_helpers import ok, one_line, run
from harness import grant
from sqlalchemy import create_engine, text
from test_serve_workers import LAB, people_of, serving

from consentry.ledger import ConsistencyError
from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.services.domain.disclosure import KEY_GONE
from consentry.services.sdk.client import Client
from consentry.v1 import audit_pb2, exchange_pb2, registry_pb2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_restored_backup_serves_the_same_records_and_its_ledger_verifies(backend, tmp_path):
    trusted_before, trusted_after = tmp_path / "auditor-before.note", tmp_path / "auditor-after.note"
    with database(backend, tmp_path) as url:
        with serving(tmp_path, url, workers=1) as served, people_of(served, url) as people:
            hospital, doctor, patient, auditor = people.org(), people.org(), people.patient(), people.auditor()
            for _ in range(2):
                hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                    patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
            grant(patient, doctor, ["lab"])
            service_key = keyfiles.load_signing_key(people.settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
            shared_before = _shared(doctor, patient, service_key)
            assert len(shared_before) == 2
            verifier_key = _ledger_verifier_key(people)
            _trust_latest(served.target, auditor, trusted_before, verifier_key)

            dump = erased = None
            if backend != "sqlite":
                dump = _dump_postgresql(url, tmp_path)
                # Erased after the database's backup, before the files': the restore names it.
                erased = shared_before[0]
                hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(
                    record_id=erased, reason="filed for another patient"))
            # Records keep arriving while the backup is taken: each one the copy holds must open.
            stop = threading.Event()

            def depositing() -> None:
                while not stop.is_set():
                    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                        patient_id=patient.id, fhir_json=LAB % patient.id.encode()))

            deposits = threading.Thread(target=depositing)
            deposits.start()
            try:
                lines = ok(run("backup", str(tmp_path / "backup"), "--data-dir", str(served.data),
                               env={"CONSENTRY_DATABASE_URL": url}))
            finally:
                stop.set()
                deposits.join()
            assert lines[0].startswith("backed up ") and lines[0].endswith(f" files of {served.data} to "
                                                                           f"{tmp_path / 'backup'}")
            assert lines[1].startswith({"sqlite": "database: SQLite, ledger of "}.get(backend, "database: PostgreSQL"))

            # Ledgered after the backup: gone with the deployment, and a later checkpoint trusted.
            assert len(_shared(doctor, patient, service_key)) > len(shared_before)
            _trust_latest(served.target, auditor, trusted_after, verifier_key)

        _lose(served.data, url, backend)
        restored = tmp_path / "restored"
        if dump is not None:
            _load_postgresql(dump, url)
        lines = ok(run("restore", str(tmp_path / "backup"), "--data-dir", str(restored),
                       env={"CONSENTRY_DATABASE_URL": url}))
        assert lines[0].startswith("restored ") and lines[0].endswith(f" to {restored}")
        keyless = [line for line in lines if line.startswith("records without their key")]
        assert keyless == ([f"records without their key in this backup (erased after the database's backup, or "
                            f"deposited after this one): {erased}; their holders are to erase them (`consentry org "
                            "erase`), then deposit again any still held"] if erased else [])

        with serving(tmp_path, url, workers=1, data=restored) as again, people_of(again, url) as people:
            assert _ledger_verifier_key(people) == verifier_key
            if erased:
                # Until its holder erases it again, the record without its key is withheld, alone.
                with Client(again.target, doctor.client.caller) as client:
                    got = list(client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                            service_key=service_key))
                assert [(r.record_id, r.reasons) for r in got if not r.shared] == [(erased, (KEY_GONE,))]
                with Client(again.target, hospital.client.caller) as holder:
                    holder.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(
                        record_id=erased, reason="filed for another patient"))
            shared = _shared(doctor, patient, service_key, again.target)
            assert set(shared_before) - {erased} <= set(shared)
            live = people.sql("SELECT count(*) AS n FROM records WHERE erased_ns IS NULL")
            assert len(shared) == live[0].n  # every one opens
            checkpoint = people.auditor().client.audit.GetCheckpoint(
                audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
            verify_log(people.raw_ledger()[: checkpoint.tree_size], checkpoint.note,
                       NoteVerifier.from_key(verifier_key))
            # The auditor's view from before the backup is extended; the later one is not.
            _trust_latest(again.target, auditor, trusted_before, verifier_key)
            with pytest.raises(ConsistencyError):
                _trust_latest(again.target, auditor, trusted_after, verifier_key)


def test_restore_refuses_a_damaged_backup_and_a_used_data_directory(tmp_path):
    data = tmp_path / "data"
    ok(run("init", "--data-dir", str(data)))
    (tmp_path / "empty").mkdir()
    refused = run("backup", str(tmp_path / "b0"), "--data-dir", str(tmp_path / "empty"))
    assert one_line(refused, "consentry backup:").endswith("holds no deployment to back up\n")
    with serving(tmp_path, cfg.sqlite_url(data), workers=1):  # the server makes the database
        ok(run("backup", str(tmp_path / "backup"), "--data-dir", str(data)))
    refused = run("backup", str(tmp_path / "backup"), "--data-dir", str(data))
    assert one_line(refused, "consentry backup:") == (
        f"consentry backup: {tmp_path / 'backup'} exists; a backup goes to a new directory\n")

    refused = run("restore", str(tmp_path / "backup"), "--data-dir", str(data))
    assert one_line(refused, "consentry restore:") == (
        f"consentry restore: {data} is not empty; restore into a new or empty data directory\n")

    key = tmp_path / "backup" / cfg.LEDGER_SIGNING_KEY
    key.write_bytes(key.read_bytes() + b"\n")
    refused = run("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "new"))
    assert one_line(refused, "consentry restore:") == (
        f"consentry restore: {key} does not match the backup's manifest: damaged or altered\n")
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())

    (tmp_path / "backup" / "consentry-backup.json").unlink()
    refused = run("restore", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "new"))
    assert one_line(refused, "consentry restore:") == (
        f"consentry restore: {tmp_path / 'backup'} holds no consentry-backup.json: not a whole Consentry backup\n")


def _shared(doctor, patient, service_key, target: str | None = None) -> list[str]:
    client = Client(target, doctor.client.caller) if target else doctor.client
    try:
        return sorted(r.record_id for r in client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                        service_key=service_key) if r.shared)
    finally:
        if target:
            client.close()


def _ledger_verifier_key(people) -> str:
    return people.operator.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_verifier_key


def _trust_latest(target: str, auditor, store: Path, verifier_key: str) -> None:
    """The auditor (with its trusted checkpoint kept in `store`) checks a fresh checkpoint
    extends the last one it trusted, then trusts it; raises ConsistencyError otherwise."""
    with Client(target, auditor.client.caller, trusted_checkpoint=store) as client:
        note = client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint.note
        client.check_checkpoint(note, NoteVerifier.from_key(verifier_key))


def _lose(data: Path, url: str, backend: str) -> None:
    """The deployment is gone: its data directory and its database."""
    shutil.rmtree(data)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm", ".writer-lock"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{_schema(url)}" CASCADE'))
        engine.dispose()


def _dump_postgresql(url: str, tmp_path: Path) -> Path:
    dump = tmp_path / "database.sql"
    subprocess.run(["pg_dump", "--schema", _schema(url), "--no-owner", "--file", str(dump), _libpq(PG_URL)],
                   check=True, capture_output=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    return dump


def _load_postgresql(dump: Path, url: str) -> None:
    subprocess.run(["psql", "--quiet", "--set", "ON_ERROR_STOP=1", "--file", str(dump), _libpq(PG_URL)],
                   check=True, capture_output=True)


def _schema(url: str) -> str:
    return url.rsplit("search_path%3D", 1)[1]


def _libpq(url: str | None) -> str:
    assert url
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_serve_refuses_a_data_directory_whose_record_keys_are_not_there(tmp_path):
    """A `record-keys/` left behind (a restore that missed it, a volume not mounted) would leave
    every record unopenable: `serve` refuses to start, naming it, rather than withhold them all."""
    url = cfg.sqlite_url(tmp_path / "data")
    with serving(tmp_path, url, workers=1) as served, people_of(served, url) as people:
        hospital, patient = people.org(), people.patient()
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
    keys = served.data / "record-keys"
    keys.rename(tmp_path / "elsewhere")
    refused = run("serve", "--listen", "127.0.0.1:0", "--workers", "1", "--log-level", "WARNING",
                  "--data-dir", str(served.data))
    assert one_line(refused, "consentry serve:") == (
        f"consentry serve: {keys} holds the key of none of the latest 1 records: it is missing or another "
        "directory (a volume not mounted?); mount or restore it (docs/operations.md, \"Restore\")\n")
    (tmp_path / "elsewhere").rename(keys)
    with serving(tmp_path, url, workers=1):
        pass
