"""The server's one clock: what it records and decides by time follows `clock.set_source`."""

from __future__ import annotations

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import grant

from consentry.services import clock
from consentry.v1 import common_pb2, consent_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},'
       b'"category":[{"coding":[{"code":"laboratory"}]}],"effectiveDateTime":"2026-11-01"}')


@pytest.fixture
def frozen():
    """The clock stopped at the test's start (so callers' real-time tokens stay fresh); the test
    moves it by assigning `frozen.now`."""

    class Frozen:
        now = time.time_ns() // 1000 * 1000 + 123_000

    previous = clock.set_source(lambda: Frozen.now)
    try:
        yield Frozen
    finally:
        clock.set_source(previous)


def as_ns(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def test_records_and_entries_carry_the_clocks_time(harness, frozen):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    consent = grant(patient, doctor, ["lab"])
    put = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
        patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
    assert as_ns(consent.create_time) == frozen.now
    assert as_ns(put.record.create_time) == frozen.now
    ours = {consent.consent_id, put.record.record_id}
    entries = [e for e in harness.entries() if {e.get("consent"), e.get("record")} & ours]
    assert [e["kind"] for e in entries] == ["consent.granted", "record.deposited"]
    assert {e["time"] for e in entries} == {clock.rfc3339(frozen.now)}


def test_a_consent_lapses_when_the_clock_passes_its_end(harness, frozen):
    doctor, patient = harness.org(), harness.patient()
    until = Timestamp()
    until.FromNanoseconds(frozen.now + 2_000_000_000)
    consent = grant(patient, doctor, ["lab"], validity=common_pb2.Period(end=until))
    get = consent_pb2.GetConsentRequest(consent_id=consent.consent_id)
    assert patient.client.consent.GetConsent(get).consent.status == consent_pb2.CONSENT_STATUS_ACTIVE
    frozen.now += 3_000_000_000
    assert patient.client.consent.GetConsent(get).consent.status == consent_pb2.CONSENT_STATUS_EXPIRED
