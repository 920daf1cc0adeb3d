"""KEK rotation against a running server: online, resumable, bodies untouched, safe retirement."""

from __future__ import annotations

import threading

import pytest
from harness import Harness, grant

from consentry.services import config as cfg
from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import record_keys
from consentry.services.crypto.kek import kek_id_for, wrapped_key_id
from consentry.services.crypto.kek_rotation import (
    NEXT_KEK_FILE,
    DirectoryKekProvider,
    KekInUse,
    pending,
    promote_new_kek,
    retire_keks,
    retired_kek_files,
    rewrap_all,
    rewrap_batch,
    usage_by_kek,
)
from consentry.services.crypto.record_keys import RecordKeyVault
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2, rights_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR
CATEGORIES = ["discharge-summary", "medication", "lab"]


def deposit_story(harness):
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    ids = []
    for title, body in discharge_records(patient.id).items():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
        ids.append(reply.record.record_id)
    grant(patient, doctor, CATEGORIES)
    return hospital, patient, doctor, ids


def shared(harness, doctor, patient, client=None):
    client = client or doctor.client
    got = client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key)
    return {r.record_id: r.body for r in got if r.shared}


def rows(harness, ids):
    found = harness.sql("SELECT record_id, ciphertext, wrapped_key, kek_id FROM records")
    return {r[0]: (bytes(r[1]) if r[1] is not None else None, bytes(r[2]) if r[2] is not None else None, r[3])
            for r in found if r[0] in ids}


def kek(harness):
    """The KEK files as the server and `consentry keys` read them, each record's key shielded
    under its own record key."""
    data_dir = harness.settings.data_dir
    return RecordKeyVault(DirectoryKekProvider(harness.app.keys), data_dir / record_keys.DIRECTORY)


def test_rotation_rewraps_keys_only_and_the_running_and_a_restarted_server_still_share(harness):
    hospital, patient, doctor, ids = deposit_story(harness)
    before_share = shared(harness, doctor, patient)
    assert len(before_share) == 3
    before = rows(harness, ids)
    old_id = harness.app.kek.key_id
    assert {r[2] for r in before.values()} == {old_id}

    promotion = promote_new_kek(harness.app.keys)
    assert promotion.old_kek == old_id and promotion.new_kek != old_id
    data = harness.settings.data_dir
    assert (data / f"kek-{old_id}.key").stat().st_mode & 0o777 == 0o600
    assert (data / cfg.KEK_FILE).stat().st_mode & 0o777 == 0o600
    assert not (data / NEXT_KEK_FILE).exists()

    report = rewrap_all(harness.app.db, kek(harness), harness.app.trail, batch_size=2)
    assert report.finished and report.kek == promotion.new_kek
    assert report.rewrapped >= len(ids)

    after = rows(harness, ids)
    for rid in ids:
        assert after[rid][0] == before[rid][0]  # the body's ciphertext is byte for byte unchanged
        assert after[rid][1] != before[rid][1]
        assert after[rid][2] == wrapped_key_id(after[rid][1]) == promotion.new_kek
    assert pending(harness.app.db, promotion.new_kek) == {}

    # The running server noticed the new kek.key by itself: it opens rewrapped records...
    assert shared(harness, doctor, patient) == before_share
    # ...and wraps new deposits with the new KEK.
    reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
    assert rows(harness, [reply.record.record_id])[reply.record.record_id][2] == promotion.new_kek

    kinds = [e for e in harness.entries() if e.get("kind", "").startswith("key.kek_rotation")]
    started, finished = kinds[-2:]
    assert started["kind"] == "key.kek_rotation_started" and started["kek"] == promotion.new_kek
    assert old_id in started["from_keks"] and started["pending"] >= len(ids)
    assert finished["kind"] == "key.kek_rotation_finished" and finished["rewrapped"] == report.rewrapped
    assert all("record" not in e for e in kinds)  # nothing per record

    # A freshly started server on the same data directory and database reads them too.
    fresh = Harness.start(harness.settings.data_dir, harness.settings.database_url)
    try:
        assert fresh.app.kek.key_id == promotion.new_kek
        client = fresh.client(doctor.client.caller)
        got = shared(fresh, doctor, patient, client)
        assert {rid: got[rid] for rid in before_share} == before_share
    finally:
        fresh.stop()


def test_an_interrupted_rotation_resumes_and_skips_what_is_done(harness):
    hospital, patient, doctor, ids = deposit_story(harness)
    expected = shared(harness, doctor, patient)
    old_id = harness.app.kek.key_id
    new_id = promote_new_kek(harness.app.keys).new_kek
    todo = sum(pending(harness.app.db, new_id).values())
    assert todo >= len(ids)

    # One batch, then the job "crashes".
    first = rewrap_batch(harness.app.db, kek(harness), batch_size=2)
    assert first.rewrapped == 2 and first.last_record_id is not None
    assert sum(pending(harness.app.db, new_id).values()) == todo - 2
    mixed = rows(harness, ids)
    # Mid-rotation the server serves records under both KEKs.
    assert shared(harness, doctor, patient) == expected
    moved = {rid: r[1] for rid, r in mixed.items() if r[2] == new_id}

    # Running the job again finishes it; what the first batch did is skipped, not redone.
    report = rewrap_all(harness.app.db, kek(harness), harness.app.trail, batch_size=3)
    assert report.finished and report.rewrapped == todo - 2
    after = rows(harness, ids)
    for rid, wrapped in moved.items():
        assert after[rid][1] == wrapped
    assert {r[2] for r in after.values()} == {new_id}
    assert old_id not in usage_by_kek(harness.app.db)
    assert shared(harness, doctor, patient) == expected
    # And once more: nothing left to do.
    assert rewrap_all(harness.app.db, kek(harness), harness.app.trail).rewrapped == 0


def test_erased_records_are_skipped(harness):
    hospital, patient, doctor, ids = deposit_story(harness)
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=ids[0], reason="patient request"))
    new_id = promote_new_kek(harness.app.keys).new_kek
    report = rewrap_all(harness.app.db, kek(harness), harness.app.trail, batch_size=1)
    assert report.finished
    after = rows(harness, ids)
    assert after[ids[0]][0] is None and after[ids[0]][1] is None  # still shredded, not resurrected
    assert all(after[rid][2] == new_id for rid in ids[1:])


def test_retiring_a_kek_still_in_use_is_refused_then_allowed(harness):
    hospital, patient, doctor, ids = deposit_story(harness)
    expected = shared(harness, doctor, patient)
    data = harness.settings.data_dir
    old_id = harness.app.kek.key_id
    new_id = promote_new_kek(harness.app.keys).new_kek
    assert old_id in retired_kek_files(harness.app.keys)

    with pytest.raises(KekInUse) as refused:
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [old_id])
    assert refused.value.in_use[old_id] >= len(ids)
    assert (data / f"kek-{old_id}.key").exists()
    with pytest.raises(KekInUse):  # retiring "everything" refuses as a whole, deleting nothing
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail)
    assert (data / f"kek-{old_id}.key").exists()
    with pytest.raises(ValueError, match="is the current KEK"):
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [new_id])

    assert rewrap_all(harness.app.db, kek(harness), harness.app.trail, batch_size=50).finished
    retired = retire_keks(harness.app.keys, harness.app.db, harness.app.trail)
    assert old_id in retired and not (data / f"kek-{old_id}.key").exists()
    assert retired_kek_files(harness.app.keys) == {}
    assert [e for e in harness.entries() if e.get("kind") == "key.kek_retired"][-1]["kek"] in retired
    # Nothing needed the retired key: the running server and a new provider still open everything.
    assert shared(harness, doctor, patient) == expected
    assert kek(harness).key_ids == {new_id}


def test_rotation_is_online_deposits_and_fetches_keep_working(harness):
    hospital, patient, doctor, ids = deposit_story(harness)
    for _ in range(6):
        for title, body in discharge_records(patient.id).items():
            if title == "psychiatric note":
                continue
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    new_id = promote_new_kek(harness.app.keys).new_kek
    errors, stop = [], threading.Event()

    def traffic():
        try:
            while not stop.is_set():
                hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                    patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
                assert shared(harness, doctor, patient)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        report = rewrap_all(harness.app.db, kek(harness), harness.app.trail, batch_size=1)
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    assert report.finished and report.batches > 1
    assert pending(harness.app.db, new_id) == {}
    assert len(shared(harness, doctor, patient)) > 3


def test_a_crash_during_promotion_is_finished_by_the_next_run(harness):
    data = harness.settings.data_dir
    keys = harness.app.keys
    old = keys.load_secret(data / cfg.KEK_FILE, "kek")
    staged = keys.generate_secret(data / NEXT_KEK_FILE, "kek")  # died right after generating the new key
    promotion = promote_new_kek(harness.app.keys)
    assert promotion.old_kek == kek_id_for(old) and promotion.new_kek == kek_id_for(staged)
    assert keys.load_secret(data / cfg.KEK_FILE, "kek") == staged
    assert keys.load_secret(data / f"kek-{promotion.old_kek}.key", "kek") == old
    assert rewrap_all(harness.app.db, kek(harness), harness.app.trail).finished
    retire_keks(harness.app.keys, harness.app.db, harness.app.trail)


def test_rights_texts_are_rewrapped_with_the_records_and_hold_their_kek_until_then(harness):
    """A correction's text and a refusal's explanation are sealed under the KEK too: a KEK still
    wrapping one is not retired, a rotation moves them, and they read the same afterwards."""
    hospital, patient, _doctor, ids = deposit_story(harness)
    text, explanation = "the allergy is to penicillin, not to latex", "checked against the admission notes"
    request = patient.client.rights.FileCorrection(rights_pb2.FileCorrectionRequest(
        patient_id=patient.id, record_id=ids[0], reason="inaccurate", text=text)).request
    hospital.client.rights.AnswerCorrection(rights_pb2.AnswerCorrectionRequest(
        request_id=request.request_id, refusal_reason="other", explanation=explanation))
    old_id = harness.app.kek.key_id
    promote_new_kek(harness.app.keys)
    # Only the two texts hold the old KEK once the records have moved.
    assert rewrap_batch(harness.app.db, kek(harness), batch_size=10_000).rewrapped >= len(ids)
    assert usage_by_kek(harness.app.db).get(old_id, 0) >= 2
    with pytest.raises(KekInUse):
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [old_id])
    assert rewrap_all(harness.app.db, kek(harness), harness.app.trail).finished
    assert old_id in retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [old_id])
    [seen] = [r for r in patient.client.rights.ListRightsRequests(rights_pb2.ListRightsRequestsRequest(
        patient_id=patient.id)).requests if r.request_id == request.request_id]
    assert (seen.correction_text, seen.explanation, seen.refusal_reason) == (text, explanation, "other")


def test_emergency_justifications_are_rewrapped_and_hold_their_kek_until_then(harness):
    """A break-the-glass justification is sealed under the KEK: a KEK still wrapping one is not
    retired, a rotation moves it, and the patient reads it the same afterwards."""
    hospital, er, patient = harness.org(), harness.org(practitioner="dr-er"), harness.patient()
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=discharge_records(patient.id)["medication list"]))
    why = "unconscious on arrival, anaphylaxis suspected"
    list(er.client.fetch(patient.id, "ETREAT", recipient_key=er.encryption, service_key=harness.service_key,
                         emergency_justification=why))
    [emergency_id] = [n.subject_ref for n in patient.client.notices(patient.id)
                      if n.kind == consent_pb2.NOTICE_KIND_EMERGENCY_ACCESS]
    old_id = harness.app.kek.key_id
    promote_new_kek(harness.app.keys)
    rewrap_batch(harness.app.db, kek(harness), batch_size=10_000)
    assert usage_by_kek(harness.app.db).get(old_id, 0) >= 1
    with pytest.raises(KekInUse):
        retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [old_id])
    assert rewrap_all(harness.app.db, kek(harness), harness.app.trail).finished
    assert old_id in retire_keks(harness.app.keys, harness.app.db, harness.app.trail, [old_id])
    access = patient.client.consent.GetEmergencyAccess(consent_pb2.GetEmergencyAccessRequest(
        emergency_id=emergency_id)).access
    assert access.justification == why
