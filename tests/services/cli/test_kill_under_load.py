"""Killed under load, again and again: `consentry serve --workers 2` is SIGKILLed, parent and
workers at once, while fetches and consent grants are under way, then started again on the same
data and killed again (ROUNDS times). Started once more, every answer a
client received is backed by the ledger exactly as it was sent (a fetch's entries byte for byte,
a grant's consent and its entry), and the whole ledger verifies against a fresh signed
checkpoint: nothing acknowledged was lost, and no entry is half-written."""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest
from backends import BACKENDS, database
from harness import grant
from test_serve_workers import LAB, people_of, serving

from consentry.ledger.checkpoint import NoteVerifier
from consentry.ledger.verification import verify_log
from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.v1 import audit_pb2, exchange_pb2, registry_pb2

LOAD_S = 1.5
ROUNDS = 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_acknowledged_call_survives_a_kill(backend, tmp_path):
    acknowledged_fetches: list[tuple[int, bytes]] = []  # (seq, entry) as clients received them
    acknowledged_grants: list[str] = []  # consent ids
    with database(backend, tmp_path) as url:
        for n in range(ROUNDS):  # killed, started again on the same data, killed again
            before = len(acknowledged_fetches), len(acknowledged_grants)
            _load_then_kill(tmp_path, url, acknowledged_fetches, acknowledged_grants)
            grew = len(acknowledged_fetches) > before[0] and len(acknowledged_grants) > before[1]
            assert grew, f"round {n}: the load did not run before the kill"
        # The same data directory and database.
        with serving(tmp_path, url) as again, people_of(again, url) as people:
            checkpoint = people.auditor().client.audit.GetCheckpoint(
                audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
            ledger = people.raw_ledger()
            verify_key = people.operator.registry.GetServiceKeys(
                registry_pb2.GetServiceKeysRequest()).ledger_verifier_key
            verify_log(ledger[: checkpoint.tree_size], checkpoint.note, NoteVerifier.from_key(verify_key))
            for seq, entry in acknowledged_fetches:
                assert ledger[seq] == entry
            consents = {r.consent_id for r in people.sql("SELECT consent_id FROM consents")}
            assert set(acknowledged_grants) <= consents
            granted = {e["consent"] for e in people.entries() if e["kind"] == "consent.granted"}
            assert set(acknowledged_grants) <= granted


def _load_then_kill(tmp_path, url, acknowledged_fetches: list[tuple[int, bytes]],
                    acknowledged_grants: list[str]) -> None:
    """One round: new people on the served deployment, fetches and grants under way, then every
    process of the server SIGKILLed at once; what clients were answered is added to the lists."""
    with serving(tmp_path, url) as served, people_of(served, url) as people:
        hospital, doctor, patient = people.org(), people.org(), people.patient()
        for _ in range(3):
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
                patient_id=patient.id, fhir_json=LAB % patient.id.encode()))
        grant(patient, doctor, ["lab"])
        service_key = keyfiles.load_signing_key(
            people.settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
        others = [people.org() for _ in range(2)]
        stop = threading.Event()
        lock = threading.Lock()

        def fetching() -> None:
            while not stop.is_set():
                try:
                    got = list(doctor.client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption,
                                                   service_key=service_key))
                except grpc.RpcError:
                    return  # the server is gone: what was not answered was not acknowledged
                with lock:
                    acknowledged_fetches.extend((r.ledger_seq, r.ledger_entry) for r in got)

        def granting(org) -> None:
            while not stop.is_set():
                try:
                    consent = grant(patient, org, ["lab"])
                except grpc.RpcError:
                    return
                with lock:
                    acknowledged_grants.append(consent.consent_id)

        threads = [threading.Thread(target=fetching) for _ in range(3)]
        threads += [threading.Thread(target=granting, args=(org,)) for org in others]
        for t in threads:
            t.start()
        time.sleep(LOAD_S)
        for pid in [served.proc.pid, *served.workers()]:
            os.kill(pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        served.proc.wait(timeout=30)

