"""Revocation is effective for every fetch that starts after the revoke returns: fetches racing a
revoke never release a record after it, and the ledger order proves it."""

from __future__ import annotations

import threading
import time

import grpc
from harness import grant

from consentry.v1 import consent_pb2, exchange_pb2

LAB = (b'{"resourceType":"Observation","status":"final","code":{"text":"CRP"},'
       b'"subject":{"reference":"Patient/%s"},'
       b'"category":[{"coding":[{"code":"laboratory"}]}]}')
FETCHERS = 4


def test_no_record_is_released_after_revoke_returns(harness):
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    for _ in range(3):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                         fhir_json=LAB % patient.id.encode()))
    consent = grant(patient, doctor, ["lab"])
    results: list[tuple[float, int]] = []  # (start time, records shared)
    revoked_at = float("inf")
    progress = threading.Condition()

    def fetch_loop() -> None:
        while not done():
            started = time.monotonic()
            try:
                shared = sum(r.shared for r in doctor.client.fetch(
                    patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key))
            except grpc.RpcError as exc:  # once revoked, the doctor has no relationship left
                if exc.code() != grpc.StatusCode.PERMISSION_DENIED:
                    raise
                shared = 0
            with progress:
                results.append((started, shared))
                progress.notify_all()

    def fetches(after: float) -> int:
        return sum(1 for started, _ in results if started > after)

    def done() -> bool:
        with progress:
            return fetches(revoked_at) >= 2 * FETCHERS

    threads = [threading.Thread(target=fetch_loop) for _ in range(FETCHERS)]
    for t in threads:
        t.start()
    with progress:  # revoke while fetches are under way, after some have finished
        assert progress.wait_for(lambda: len(results) >= FETCHERS, timeout=60)
    patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    with progress:
        revoked_at = time.monotonic()
    for t in threads:
        t.join()

    before = [n for started, n in results if started < revoked_at]
    after = [n for started, n in results if started > revoked_at]
    assert any(before) and after, "the race did not happen: fetches on both sides of the revoke are needed"
    assert not any(after), "a fetch that started after the revoke returned received records"
    entries = harness.entries()
    [revoke_seq] = [e["seq"] for e in entries if e["kind"] == "consent.revoked" and e["consent"] == consent.consent_id]
    allowed = [e["seq"] for e in entries if e["kind"] == "access.decision" and e.get("consents") == [consent.consent_id]
               and e["allowed"]]
    assert allowed and max(allowed) < revoke_seq


MEDICATION = (b'{"resourceType":"MedicationStatement","status":"active","medicationCodeableConcept":{"text":"aspirin"},'
              b'"subject":{"reference":"Patient/%s"}}')


def test_fetches_racing_a_narrowing_follow_the_version_in_force(harness):
    """Fetches decide outside the ledger's lock and check their basis under it: every allowed
    entry cites the consent version in force where it stands in the ledger, and nothing the
    narrowing took away is shared after it."""
    hospital, doctor, patient = harness.org(), harness.org(), harness.patient()
    for body in (LAB, MEDICATION, LAB, MEDICATION):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                         fhir_json=body % patient.id.encode()))
    consent = grant(patient, doctor, ["lab", "medication"])
    stop = threading.Event()
    started = threading.Barrier(FETCHERS + 1)
    narrowed_at = [float("inf")]
    after: list[set[str]] = []  # the categories shared to fetches that started after the narrowing
    before: list[set[str]] = []  # ...and to those that started before it

    def fetch_loop() -> None:
        started.wait()
        while not stop.is_set():
            began = time.monotonic()
            shared = {r.category for r in doctor.client.fetch(
                patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key) if r.shared}
            if began > narrowed_at[0]:
                after.append(shared)
            else:
                before.append(shared)

    threads = [threading.Thread(target=fetch_loop) for _ in range(FETCHERS)]
    for t in threads:
        t.start()
    started.wait()
    _until(lambda: len(before) >= FETCHERS)  # fetches went through before the narrowing...
    patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=consent.consent_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    narrowed_at[0] = time.monotonic()
    _until(lambda: len(after) >= FETCHERS)  # ...and after it, however slow the machine
    stop.set()
    for t in threads:
        t.join()

    assert after and all(shared == {"lab"} for shared in after)
    in_force, cited = 1, []
    for entry in harness.entries():
        if entry["kind"] == "consent.narrowed" and entry["consent"] == consent.consent_id:
            in_force = entry["version"]
        elif entry["kind"] == "access.decision" and entry["allowed"] and entry["consents"] == [consent.consent_id]:
            assert entry["consent_versions"] == [{"id": consent.consent_id, "version": in_force}]
            assert in_force == 1 or entry["category"] == "lab"
            cited.append(in_force)
    assert set(cited) == {1, 2}, "the race did not happen: allowed entries on both sides of the narrowing"


def _until(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the fetchers made no progress"
        time.sleep(0.01)
