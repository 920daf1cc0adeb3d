"""`consentry incident scope` through the real command, beside a running server on both
backends: a leaked recipient key, a leaked KEK and a compromise window each name exactly the
patients they touch, and the notices are drafted in Chinese and English for each of them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from harness import grant

from consentry.services import clock
from consentry.services.cli.demo import discharge_records
from consentry.v1 import exchange_pb2

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]


def scope(harness, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, "incident", "scope", "--data-dir", str(harness.settings.data_dir), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CONSENTRY_DATABASE_URL": harness.settings.database_url})


def listed(result: subprocess.CompletedProcess) -> set[str]:
    assert result.returncode == 0, result.stderr
    return {line.split("\t")[0] for line in result.stdout.splitlines() if "\t" in line}


@pytest.fixture(scope="module")
def world(harness):
    """Two patients with records at one hospital; one doctor fetched the first patient's
    records, a clinic the second's; a third patient's only record was erased."""
    hospital = harness.org()
    doctor, clinic = harness.org(), harness.org()
    first, second, third = harness.patient(), harness.patient(), harness.patient()
    for patient in (first, second, third):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
    [gone] = hospital.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=third.id)).records
    hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(record_id=gone.record_id, reason="x"))
    start = clock.now_rfc3339()
    for patient, org in ((first, doctor), (second, clinic)):
        grant(patient, org, ["lab"])
        shared = list(org.client.fetch(patient.id, "TREAT", recipient_key=org.encryption,
                                       service_key=harness.service_key))
        assert [item.shared for item in shared] == [True]
    end = clock.now_rfc3339()
    doctor_key = harness.sql("SELECT key_id FROM principal_keys WHERE principal = :p AND key_type = 'encryption'",
                             p="org:" + doctor.id)[0][0]
    return doctor_key, first, second, third, start, end


def test_a_leaked_recipient_key_names_the_patients_shared_to_it(harness, world, tmp_path):
    doctor_key, first, second, _third, _start, _end = world
    notices = tmp_path / "notices.txt"
    result = scope(harness, "--recipient-key", doctor_key, "--notices", str(notices), "--contact", "dpo@hospital")
    assert listed(result) == {first.id}
    assert "1 patient(s) affected" in result.stderr
    text = notices.read_text(encoding="utf-8")
    assert f"=== {first.id} ===" in text and second.id not in text
    assert "个人信息安全事件通知" in text and "Notice of a personal information security incident" in text
    assert "lab" in text and "dpo@hospital" in text and doctor_key in text


def test_a_leaked_kek_names_every_patient_with_a_live_record_under_it(harness, world):
    _key, first, second, third, _start, _end = world
    found = listed(scope(harness, "--kek", harness.app.kek.key_id))
    assert {first.id, second.id} <= found and third.id not in found  # an erased record is shredded
    assert listed(scope(harness, "--kek", "local-0000000000000000")) == set()


def test_a_compromise_window_names_what_was_disclosed_in_it(harness, world):
    _key, first, second, _third, start, end = world
    result = scope(harness, "--from", start, "--to", end, "--notices", "-")
    assert listed(result) == {first.id, second.id}
    assert result.stdout.count("=== ") == 2
    assert listed(scope(harness, "--from", "2020-01-01T00:00:00Z", "--to", "2020-12-31T00:00:00Z")) == set()


@pytest.mark.parametrize(("args", "why"), [
    ((), "exactly one"),
    (("--kek", "k", "--recipient-key", "r"), "exactly one"),
    (("--from", "2026-01-01T00:00:00Z"), "go together"),
    (("--from", "yesterday", "--to", "2026-01-01T00:00:00Z"), "RFC 3339"),
    (("--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"), "after"),
])
def test_a_scope_that_names_no_single_incident_is_refused(harness, args, why):
    result = scope(harness, *args)
    assert result.returncode == 2 and why in result.stderr
