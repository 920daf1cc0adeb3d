"""A KEK rotation after a compromise, against a running server: every body sealed again under a
fresh data key, the fence that keeps a stale replica from wrapping under the old KEK, and the
old KEK's retirement after a grace period, its file shredded."""

from __future__ import annotations

import shutil

import grpc
import pytest
from harness import Harness, grant

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import at_rest, kek_fence, record_keys
from consentry.services.crypto.errors import DecryptionFailed, UnknownKek
from consentry.services.crypto.kek import LocalKekProvider
from consentry.services.crypto.kek_compromise import in_progress, rotate_after_compromise
from consentry.services.crypto.kek_rotation import (
    _PURPOSE,
    DirectoryKekProvider,
    KekInGrace,
    retire_keks,
    retired_kek_name,
)
from consentry.services.store.models import Record
from consentry.v1 import exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


def vault(harness, kek=None):
    """The service's KEK provider over the data directory, or over one given KEK alone."""
    inner = kek or DirectoryKekProvider(harness.app.keys)
    return record_keys.RecordKeyVault(inner, harness.settings.data_dir / record_keys.DIRECTORY)


def snapshot(harness, ids):
    """The rows as a copy of the database holds them: record id -> (sealed body, metadata)."""
    with harness.app.db.read() as s:
        rows = [s.get(Record, rid) for rid in ids]
        return {r.record_id: (at_rest.SealedRecord(bytes(r.ciphertext), bytes(r.wrapped_key), r.kek_id),
                              at_rest.RecordMeta.of(r)) for r in rows if r is not None}


def shared(harness, doctor, patient, client=None):
    got = (client or doctor.client).fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                          service_key=harness.service_key)
    return {r.record_id: r.body for r in got if r.shared}


@pytest.fixture
def story(harness):
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    ids = [hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
           .record.record_id for body in discharge_records(patient.id).values()]
    grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    return hospital, patient, doctor, ids


def test_after_a_compromise_rotation_the_old_kek_and_an_old_database_copy_open_nothing(harness, story):
    hospital, patient, doctor, ids = story
    before = shared(harness, doctor, patient)
    assert before
    old_copy = snapshot(harness, ids)  # a copy of the database taken before the rotation
    old_id = harness.app.kek.key_id
    old_key = harness.app.keys.load_secret(harness.settings.data_dir / "kek.key", _PURPOSE)  # the leaked KEK

    done = rotate_after_compromise(harness.app.keys, harness.app.db, vault(harness), harness.app.trail, batch_size=2)
    assert done.promotion is not None and done.promotion.old_kek == old_id
    assert done.report.finished and in_progress(harness.app.db) is None
    new_id = done.promotion.new_kek
    with harness.app.db.read() as s:
        assert kek_fence.current(s) == new_id

    now = snapshot(harness, ids)
    leaked = vault(harness, LocalKekProvider.from_mapping({old_id: old_key}, old_id))
    for rid, (sealed, meta) in now.items():
        old_sealed, _ = old_copy[rid]
        assert sealed.kek_id == new_id and sealed.ciphertext != old_sealed.ciphertext
        assert at_rest.open_record(rid, old_sealed, leaked, meta)  # the old copy opened with the old KEK...
        with pytest.raises(UnknownKek):  # ...but the current row is not wrapped by it
            at_rest.open_record(rid, sealed, leaked, meta)
        # Nor does the data key of the old copy open the current body: it is a fresh one.
        with pytest.raises(DecryptionFailed):
            at_rest.open_record(rid, at_rest.SealedRecord(sealed.ciphertext, old_sealed.wrapped_key, old_id),
                                leaked, meta)
    # The running server serves them all the same.
    assert shared(harness, doctor, patient) == before
    entries = [e for e in harness.entries() if e.get("kind", "").startswith("key.kek_rotation")][-2:]
    assert [e["kind"] for e in entries] == ["key.kek_rotation_started", "key.kek_rotation_finished"]
    assert all(e.get("compromise") is True and "record" not in e for e in entries)


def test_the_fence_refuses_a_replica_with_the_old_kek_and_nothing_is_written(harness, story, tmp_path):
    hospital, patient, doctor, ids = story
    stale_dir = tmp_path / "stale"
    shutil.copytree(harness.settings.data_dir, stale_dir)  # a replica's data directory, before the rotation
    config = harness.settings  # the same token, if any: a replica of this very service
    token = {"pkcs11_module": config.pkcs11_module, "pkcs11_label": config.pkcs11_label} if config.pkcs11_module else {}
    stale = Harness.start(stale_dir, config.database_url, **token)
    try:
        rotate_after_compromise(harness.app.keys, harness.app.db, vault(harness), harness.app.trail)
        assert stale.app.kek.key_id != harness.app.kek.key_id  # it still holds the old kek.key
        count = harness.sql("SELECT count(*) FROM records")[0][0]
        client = stale.client(hospital.client.caller)
        with pytest.raises(grpc.RpcError) as err:
            client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "retry" in (err.value.details() or "")
        assert harness.sql("SELECT count(*) FROM records")[0][0] == count
    finally:
        stale.stop()
    # The current server deposits as before.
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))


def test_the_old_kek_is_retired_only_after_the_grace_and_its_file_is_gone(harness, story):
    done = rotate_after_compromise(harness.app.keys, harness.app.db, vault(harness), harness.app.trail)
    assert done.promotion is not None
    old = harness.settings.data_dir / retired_kek_name(done.promotion.old_kek)
    assert old.exists()
    with pytest.raises(KekInGrace):
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [done.promotion.old_kek])
    assert old.exists()
    # The grace runs out (here: the rotation's time moved back by more than a day).
    with harness.app.db.write() as s:
        kek_fence.set_value(s, kek_fence.ROTATED_NS, str(kek_fence.rotated_ns(s) - 25 * 3600 * 10**9))
    assert retire_keks(harness.app.keys, harness.app.db, harness.app.trail,
                       [done.promotion.old_kek]) == [done.promotion.old_kek]
    assert not old.exists()
    assert [e for e in harness.entries() if e.get("kind") == "key.kek_retired"][-1]["kek"] == done.promotion.old_kek
