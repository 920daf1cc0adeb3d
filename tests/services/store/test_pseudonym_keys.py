"""Per-patient pseudonym keys: each patient's ledger pseudonym is an HMAC under a key of their
own, so destroying one key unlinks that patient's entries and no one else's; a database from
before them keeps every patient's history whole."""

from __future__ import annotations

import pytest
from alembic import command
from backends import BACKENDS, database
from harness import grant
from sqlalchemy import text

from consentry.ledger.pseudonym import patient_pseudonym
from consentry.services.store import pseudonym_keys
from consentry.services.store.db import Database
from consentry.services.store.schema import alembic_config, upgrade
from consentry.v1 import consent_pb2


def key_of(harness, patient_id: str) -> bytes | None:
    rows = harness.sql("SELECT key FROM patient_pseudonym_keys WHERE patient_id = :p", p=patient_id)
    return bytes(rows[0][0]) if rows else None


def history(patient) -> list[int]:
    return [e.seq for e in patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=patient.id, page_size=1000)).events]


def listed(harness, patient) -> set[int]:
    pseudonym = harness.pseudonym(patient.id)
    rows = harness.sql("SELECT seq FROM ledger_subjects WHERE pseudonym = :p", p=pseudonym) if pseudonym else []
    return {row[0] for row in rows}


def test_each_patient_is_named_under_a_key_of_their_own(harness):
    doctor, first, second = harness.org(), harness.patient(), harness.patient()
    grant(first, doctor, ["lab"])
    grant(second, doctor, ["lab"])
    keys = key_of(harness, first.id), key_of(harness, second.id)
    assert all(k is not None and len(k) == pseudonym_keys.KEY_BYTES for k in keys) and keys[0] != keys[1]
    granted = {e["patient"] for e in harness.entries() if e["kind"] == "consent.granted"}
    own = {patient_pseudonym(keys[0], first.id), patient_pseudonym(keys[1], second.id)}
    assert own <= granted
    # Not the service-wide pseudonym any more: the service secret alone links nothing.
    secret = harness.app.trail.pseudonym_key
    assert not {patient_pseudonym(secret, first.id), patient_pseudonym(secret, second.id)} & granted


def test_destroying_one_key_unlinks_that_patient_alone(harness):
    doctor, gone, kept = harness.org(), harness.patient(), harness.patient()
    grant(gone, doctor, ["lab"])
    grant(kept, doctor, ["lab"])
    old, kept_before = harness.pseudonym(gone.id), listed(harness, kept)
    with harness.app.db.write() as s:
        assert pseudonym_keys.destroy(s, gone.id)
    assert harness.pseudonym(gone.id) is None and key_of(harness, gone.id) is None
    assert harness.sql("SELECT count(*) FROM ledger_subjects WHERE pseudonym = :p", p=old)[0][0] == 0
    assert listed(harness, kept) == kept_before and kept_before  # the other patient is untouched
    # A later entry about the patient gets a fresh key, unlinkable to the old pseudonym.
    grant(gone, doctor, ["imaging"])
    new = harness.pseudonym(gone.id)
    assert new is not None and new != old
    # (The history also lists the harness's own reads of the ledger, which name no one.)
    named = {e["seq"] for e in harness.entries() if e.get("patient") == new}
    assert named and named <= listed(harness, gone)


@pytest.mark.parametrize("backend", BACKENDS)
def test_patients_from_before_per_patient_keys_keep_their_history(backend, tmp_path):
    service_key = bytes(range(32))
    with database(backend, tmp_path) as url:
        db = Database(url)
        try:
            config = alembic_config(url)
            with db.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "0005")
                conn.execute(text("INSERT INTO persons (patient_id, created_ns) VALUES ('P1', 0), ('P2', 0)"))
                for seq, patient in ((3, "P1"), (4, "P2"), (7, "P1")):
                    conn.execute(text("INSERT INTO ledger_subjects (pseudonym, seq, kind) VALUES (:p, :s, 'x')"),
                                 {"p": patient_pseudonym(service_key, patient), "s": seq})
            upgrade(db)
            assert pseudonym_keys.adopt_service_wide(db, service_key) == 2
            assert pseudonym_keys.adopt_service_wide(db, service_key) == 0  # once
            with db.read() as s:
                seqs = {p: sorted(s.execute(text("SELECT seq FROM ledger_subjects WHERE pseudonym = :p"),
                                            {"p": pseudonym_keys.pseudonym_of(s, p)}).scalars())
                        for p in ("P1", "P2")}
                leftover = s.execute(text("SELECT count(*) FROM ledger_subjects WHERE pseudonym IN (:a, :b)"),
                                     {"a": patient_pseudonym(service_key, "P1"),
                                      "b": patient_pseudonym(service_key, "P2")}).scalar()
        finally:
            db.dispose()
    assert seqs == {"P1": [3, 7], "P2": [4]} and leftover == 0
