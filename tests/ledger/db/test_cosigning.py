"""add_cosignatures on SQLite and PostgreSQL: witness lines join the stored note, none is lost."""

from __future__ import annotations

import threading

import pytest

from consentry.ledger import (
    Cosigner,
    StoreError,
    open_note,
    split_note,
    verify_checkpoint,
    verify_cosignatures,
)
from consentry.ledger.db import LedgerReader, LedgerWriter, add_cosignatures, cut_checkpoint

ORIGIN = "consentry.test/ledger"


@pytest.fixture
def stored(engine, signer, now):
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        for i in range(6):
            writer.append({"kind": "k", "n": i})
    with engine.begin() as conn:
        return cut_checkpoint(conn, signer, ORIGIN, now)


def test_cosignatures_join_the_note_and_a_renewal_replaces_its_line(engine, signer, stored):
    w1, w2 = Cosigner.generate("w.test/1"), Cosigner.generate("w.test/2")
    text = split_note(stored.note)[0]
    with engine.begin() as conn:
        add_cosignatures(conn, stored.size, [w1.cosign(text, 100), w2.cosign(text, 100)])
        renewed = add_cosignatures(conn, stored.size, [w1.cosign(text, 200)])
    with engine.connect() as conn:
        note = LedgerReader(conn).checkpoint(stored.size).note
    assert note == renewed.note and note.startswith(stored.note)  # body and log line untouched
    assert verify_checkpoint(note, signer.verifier, ORIGIN).root == stored.root
    assert sorted((c.name, c.timestamp) for c in verify_cosignatures(note, [w1.verifier, w2.verifier])) == [
        ("w.test/1", 200), ("w.test/2", 100)]
    assert len(split_note(note)[1]) == 3 and open_note(note, signer.verifier) == text
    with engine.begin() as conn, pytest.raises(StoreError, match="no stored checkpoint of size 99"):
        add_cosignatures(conn, 99, [w1.cosign(text, 1)])


def test_concurrent_writers_each_keep_their_line(engine, stored):
    witnesses = [Cosigner.generate(f"w.test/{i}") for i in range(6)]
    text = split_note(stored.note)[0]
    start = threading.Barrier(len(witnesses))
    errors: list[BaseException] = []

    def add(witness: Cosigner) -> None:
        start.wait()
        try:
            with engine.begin() as conn:
                add_cosignatures(conn, stored.size, [witness.cosign(text, 1_700_000_000)])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(w,)) for w in witnesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        note = LedgerReader(conn).checkpoint(stored.size).note
    assert len(verify_cosignatures(note, [w.verifier for w in witnesses])) == len(witnesses)
