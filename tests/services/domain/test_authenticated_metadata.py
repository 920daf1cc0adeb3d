"""Authenticated metadata at rest (docs/keys.md, "Records at rest"): a record body opens only with
the category, labels, patient, holder and metadata version it was sealed with, and a consent row
is used for a decision only while its MAC verifies. A database writer who changes either makes
the fetch disclose less, never more."""

from __future__ import annotations

import json

import grpc
import pytest
from harness import grant
from sqlalchemy import update

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import at_rest, record_keys
from consentry.services.crypto.kek_rotation import DirectoryKekProvider, legacy_bodies, rewrap_all
from consentry.services.domain import consents
from consentry.services.store.models import Consent, Record
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2

FAMILY_DOCTOR = registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR


@pytest.fixture
def story(harness):
    """A hospital's four discharge records (the psychiatric note mental-health) and a family
    doctor with a consent for lab results only."""
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=FAMILY_DOCTOR, practitioner="dr-chen")
    ids = {}
    for title, body in discharge_records(patient.id).items():
        reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
        ids[title] = reply.record.record_id
    consent = grant(patient, doctor, ["lab"])
    yield hospital, patient, doctor, ids, consent
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))


def shared(harness, doctor, patient):
    got = doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key)
    return {r.record_id for r in got if r.shared}


def decisions(harness):
    return sum(1 for e in harness.entries() if e.get("kind") == "access.decision")


def test_a_relabelled_record_fails_closed_and_nothing_is_disclosed(harness, story):
    hospital, patient, doctor, ids, _ = story
    assert shared(harness, doctor, patient) == {ids["lab results"]}
    note = ids["psychiatric note"]
    # A database writer passes the psychiatric note off as a lab result.
    [(labels,)] = harness.sql("SELECT labels FROM records WHERE record_id = :r", r=note)
    harness.sql("UPDATE records SET category = 'lab', labels = '[]' WHERE record_id = :r", r=note)
    before = decisions(harness)
    with pytest.raises(grpc.RpcError) as err:
        shared(harness, doctor, patient)
    # As any body that does not decrypt: the fetch fails whole, nothing disclosed, nothing ledgered.
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "nothing was disclosed" in (err.value.details() or "")
    assert decisions(harness) == before
    with harness.app.db.write() as s:
        s.execute(update(Record).where(Record.record_id == note).values(
            category="mental-health", labels=labels if isinstance(labels, list) else json.loads(labels)))
    assert shared(harness, doctor, patient) == {ids["lab results"]}


@pytest.mark.parametrize(("column", "value"), [("holder", "someone-else"), ("meta_version", 7)])
def test_a_record_given_another_holder_or_version_does_not_open(harness, story, column, value):
    hospital, patient, doctor, ids, _ = story
    lab = ids["lab results"]
    with harness.app.db.read() as s:
        old = getattr(s.get(Record, lab), column)
    with harness.app.db.write() as s:
        s.execute(update(Record).where(Record.record_id == lab).values({column: value}))
    with pytest.raises(grpc.RpcError) as err:
        shared(harness, doctor, patient)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    with harness.app.db.write() as s:
        s.execute(update(Record).where(Record.record_id == lab).values({column: old}))


def test_a_consent_changed_in_the_database_is_not_used(harness, story, caplog):
    hospital, patient, doctor, ids, consent = story
    assert shared(harness, doctor, patient) == {ids["lab results"]}
    # A database writer widens the doctor's consent to the psychiatric note.
    with harness.app.db.write() as s:
        s.execute(update(Consent).where(Consent.consent_id == consent.consent_id)
                  .values(categories=["lab", "mental-health"]))
    with caplog.at_level("ERROR", logger="consentry.consents"):
        assert shared(harness, doctor, patient) == set()  # nothing on its basis, not even the lab result
    alarms = [r.getMessage() for r in caplog.records if "INTEGRITY ALARM" in r.getMessage()]
    assert alarms and not any(patient.id in a or consent.consent_id in a for a in alarms)
    with harness.app.db.write() as s:
        s.execute(update(Consent).where(Consent.consent_id == consent.consent_id).values(categories=["lab"]))
    assert shared(harness, doctor, patient) == {ids["lab results"]}


def test_legitimate_changes_keep_consents_and_records_usable(harness, story):
    hospital, patient, doctor, ids, consent = story
    # Narrowing supersedes one version and makes another; both carry MACs the fetch accepts.
    wider = grant(patient, doctor, ["lab", "medication"])
    patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=wider.consent_id, terms=consent_pb2.ConsentTerms(categories=["medication"], purposes=["TREAT"])))
    assert shared(harness, doctor, patient) == {ids["lab results"], ids["medication list"]}
    with harness.app.db.read() as s:
        rows = list(s.query(Consent).where(Consent.patient_id == patient.id))
        assert rows and consents.intact(harness.app.trail.pseudonym_key, rows) == rows
    # Erasure changes the metadata; the erased row has no body left, and the rest still opens.
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=ids["medication list"],
                                                                         reason="entered in error"))
    [(ciphertext, version)] = harness.sql("SELECT ciphertext, meta_version FROM records WHERE record_id = :r",
                                          r=ids["medication list"])
    assert ciphertext is None and version == 2
    assert shared(harness, doctor, patient) == {ids["lab results"]}


def test_a_part2_deposit_is_bound_to_the_label_it_gets(harness):
    program, patient = harness.org(part2_program=True), harness.patient()
    body = discharge_records(patient.id)["lab results"]
    reply = program.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    kek = harness.app.kek
    with harness.app.db.read() as s:
        row = s.get(Record, reply.record.record_id)
        assert row is not None and "SUD" in row.labels
        sealed = at_rest.SealedRecord(row.ciphertext, row.wrapped_key, row.kek_id)
        assert at_rest.open_record(row.record_id, sealed, kek, at_rest.RecordMeta.of(row)) == body


def test_version_1_bodies_still_open_and_a_rewrap_upgrades_them(harness, story):
    hospital, patient, doctor, ids, _ = story
    lab = ids["lab results"]
    body = discharge_records(patient.id)["lab results"]
    # The row as a server before format version 2 left it: the body bound to the record id only.
    legacy = at_rest._seal(at_rest._RECORD_DOMAINS, lab, body, harness.app.kek)
    with harness.app.db.write() as s:
        s.execute(update(Record).where(Record.record_id == lab).values(
            ciphertext=legacy.ciphertext, wrapped_key=legacy.wrapped_key, kek_id=legacy.kek_id, meta_version=0))
    assert shared(harness, doctor, patient) == {lab}
    assert legacy_bodies(harness.app.db) >= 1

    kek = record_keys.RecordKeyVault(DirectoryKekProvider(harness.app.keys),
                                     harness.settings.data_dir / record_keys.DIRECTORY)
    report = rewrap_all(harness.app.db, kek, harness.app.trail)
    assert report.finished and legacy_bodies(harness.app.db) == 0
    [(ciphertext, version)] = harness.sql("SELECT ciphertext, meta_version FROM records WHERE record_id = :r", r=lab)
    assert bytes(ciphertext)[0] == 2 and version == 1
    assert shared(harness, doctor, patient) == {lab}
    # Now its metadata is bound: a relabel no longer goes unnoticed.
    harness.sql("UPDATE records SET holder = 'someone' WHERE record_id = :r", r=lab)
    with pytest.raises(grpc.RpcError):
        shared(harness, doctor, patient)
    harness.sql("UPDATE records SET holder = :h WHERE record_id = :r", h=hospital.id, r=lab)
    assert shared(harness, doctor, patient) == {lab}
