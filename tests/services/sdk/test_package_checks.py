"""What the SDK takes from a package and what it remembers: the record's id and category from the
signed header only, every response checked against what the fetch asked for, and share ids kept
in a store that can be replaced (tests/security/test_tampering.py has the attacks themselves)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from harness import grant

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto.errors import ReplayedShare, ResponseMismatch
from consentry.services.sdk.client import Client, MemorySeenShares
from consentry.v1 import exchange_pb2

ISSUED = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def story(harness):
    hospital, patient, doctor = harness.org(), harness.patient(), harness.org()
    records = discharge_records(patient.id)
    for title in ("lab results", "medication list"):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                         fhir_json=records[title]))
    grant(patient, doctor, ["lab", "medication"])
    return patient, doctor


class Rewriting:
    """Wraps an exchange stub: `request` and each response pass through the given edits."""

    def __init__(self, stub, request=None, response=None) -> None:
        self._stub, self._request, self._response = stub, request, response

    def FetchRecords(self, request, **kw):
        if self._request:
            request = self._copy(request)
            self._request(request)
        for item in self._stub.FetchRecords(request, **kw):
            if self._response:
                item = self._copy(item)
                self._response(item)
            yield item

    @staticmethod
    def _copy(message):
        copy = type(message)()
        copy.CopyFrom(message)
        return copy


def fetch(harness, doctor, patient, client: Client | None = None, **kw):
    client = client or doctor.client
    return list(client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=harness.service_key,
                             **kw))


def test_the_category_comes_from_the_signed_header(harness, story, monkeypatch):
    patient, doctor = story

    def relabel(item):
        item.shared.record.category = "genetic"

    monkeypatch.setattr(doctor.client, "exchange", Rewriting(doctor.client.exchange, response=relabel))
    got = fetch(harness, doctor, patient)
    assert sorted(r.category for r in got) == ["lab", "medication"]
    assert all(r.category == r.header["category"] for r in got)


@pytest.mark.parametrize("edit", ["record_id", "ledger_seq"])
def test_a_response_that_disagrees_with_its_header_is_refused(harness, story, monkeypatch, edit):
    patient, doctor = story

    def change(item):
        if edit == "record_id":
            item.shared.record.record_id = "00000000-0000-4000-8000-000000000000"
        else:
            item.ledger_seq += 1

    monkeypatch.setattr(doctor.client, "exchange", Rewriting(doctor.client.exchange, response=change))
    with pytest.raises(ResponseMismatch):
        fetch(harness, doctor, patient)


def test_a_record_the_fetch_did_not_ask_for_is_refused(harness, story, monkeypatch):
    patient, doctor = story
    [lab] = fetch(harness, doctor, patient, categories=("lab",))
    widen = Rewriting(doctor.client.exchange, request=lambda r: r.ClearField("categories"))
    monkeypatch.setattr(doctor.client, "exchange", widen)
    with pytest.raises(ResponseMismatch, match="category"):
        fetch(harness, doctor, patient, categories=("medication",))
    other = Rewriting(doctor.client.exchange, request=lambda r: r.ClearField("record_ids"))
    monkeypatch.setattr(doctor.client, "exchange", other)
    with pytest.raises(ResponseMismatch, match="not one the fetch asked for"):
        fetch(harness, doctor, patient, record_ids=(lab.record_id,))


def test_the_share_id_store_is_the_clients_and_replaceable(harness, story):
    patient, doctor = story

    class Everything:
        """A store that has seen every share id (as a shared one would, after another client)."""

        def __init__(self) -> None:
            self.asked: list[str] = []

        def first_sight(self, share_id: str, issued: datetime) -> bool:
            self.asked.append(share_id)
            return False

    store = Everything()
    with Client(harness.target, doctor.client.caller, seen_shares=store) as client, pytest.raises(ReplayedShare):
        fetch(harness, doctor, patient, client)
    assert len(store.asked) == 1
    remembered = MemorySeenShares()
    with Client(harness.target, doctor.client.caller, seen_shares=remembered) as client:
        got = fetch(harness, doctor, patient, client)
    assert len(got) == 2 and len(remembered) == 2
    assert not any(remembered.first_sight(r.header["share_id"], ISSUED) for r in got)


def test_the_memory_is_bounded_and_atomic():
    seen = MemorySeenShares(limit=2)
    assert seen.first_sight("a", ISSUED) and seen.first_sight("b", ISSUED) and not seen.first_sight("a", ISSUED)
    assert seen.first_sight("c", ISSUED) and len(seen) == 2  # "a", the oldest, is forgotten
    assert seen.first_sight("a", ISSUED) and not seen.first_sight("c", ISSUED)
    with pytest.raises(ValueError, match="at least one"):
        MemorySeenShares(limit=0)
    racing, wins = MemorySeenShares(), []
    threads = [threading.Thread(target=lambda: wins.append(racing.first_sight("x", ISSUED))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 15 + [True]
