"""Redaction in the database: a salted entry's bytes become its tombstone, a ledger.redacted
entry says why, and the ledger still verifies offline with every proof unchanged, on both
backends. What cannot be redacted is refused, changing nothing."""

from __future__ import annotations

import json

import pytest
from ledger_testlib import append_many, sample_entry
from sqlalchemy import select

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import sign_checkpoint, verify_checkpoint
from consentry.ledger.db import LedgerReader, LedgerWriter
from consentry.ledger.db.tables import HEAD_ID, ledger_entries, ledger_head
from consentry.ledger.entries import commitment, entry_leaf_hash, tombstone_commitment
from consentry.ledger.errors import EntryError
from consentry.ledger.hashing import chain_hash, leaf_hash
from consentry.ledger.merkle import verify_inclusion
from consentry.ledger.verification import verify_log

ORIGIN = "consentry.test/ledger"


def redact(engine, seqs, reason="retention"):
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        return writer.redact(seqs, {"reason": reason, "time": "2026-11-30T12:00:00Z"})


def export(engine) -> tuple[list[bytes], bytes]:
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        return list(reader.export()), reader.root()


def test_a_redacted_entry_leaves_a_tombstone_and_the_ledger_verifies(engine, signer):
    appended = append_many(engine, 12)
    entries_before, root_before = export(engine)
    with engine.connect() as conn:
        proof = LedgerReader(conn).inclusion_proof(4, 12)
    done = redact(engine, [4, 7, 4])
    assert done is not None and done.seq == 12
    assert json.loads(done.entry_bytes)["seqs"] == [4, 7] and json.loads(done.entry_bytes)["kind"] == "ledger.redacted"
    entries, root = export(engine)
    with engine.connect() as conn:
        assert LedgerReader(conn).root(12) == root_before  # the tree of the first 12 is unchanged
    for seq in (4, 7):
        stone = entries[seq]
        assert json.loads(stone) == {"seq": seq, "prev": json.loads(appended[seq].entry_bytes)["prev"],
                                     "redacted": commitment(appended[seq].entry_bytes).hex()}
        assert tombstone_commitment(stone) == commitment(appended[seq].entry_bytes)
        assert b"rec-" not in stone and b"salt" not in stone  # the entry and its salt are gone
        assert entry_leaf_hash(stone) == appended[seq].leaf_hash
    assert entries[:4] == entries_before[:4] and entries[8:12] == entries_before[8:12]
    # A proof made before the redaction still proves the tombstone's leaf.
    verify_inclusion(entry_leaf_hash(entries[4]), 4, 12, proof, root_before)
    # The redacted log verifies, in strict mode too, and extends the checkpoint signed before.
    trusted = verify_checkpoint(sign_checkpoint(signer, ORIGIN, 12, root_before), signer.verifier)
    checkpoint = verify_log(entries, sign_checkpoint(signer, ORIGIN, 13, root), signer.verifier,
                            trusted=trusted, strict=True)
    assert checkpoint.size == 13


def append_version_1(engine) -> int:
    """Appends an entry as the first ledgers wrote them (unsalted, its leaf over its bytes)."""
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        seq, prev = writer.next_seq, writer.chain_hash
        data = canonical_json({**sample_entry(9), "seq": seq, "prev": prev.hex()})
        leaf = leaf_hash(data)
        conn.execute(ledger_entries.insert().values(seq=seq, entry=data, leaf_hash=leaf,
                                                    chain_hash=chain_hash(prev, leaf)))
        frontier = writer._frontier
        frontier.append(leaf)
        conn.execute(ledger_head.update().where(ledger_head.c.id == HEAD_ID).values(
            size=frontier.size, chain_hash=chain_hash(prev, leaf), frontier=frontier.to_bytes()))
    return seq


def test_redacting_again_appends_nothing(engine):
    append_many(engine, 3)
    assert redact(engine, [1]) is not None
    assert redact(engine, [1]) is None
    with engine.connect() as conn:
        assert LedgerReader(conn).size() == 4


@pytest.mark.parametrize("what", ["unwritten", "redaction", "version 1"])
def test_what_cannot_be_redacted_is_refused_and_nothing_changes(engine, what):
    append_many(engine, 3)
    if what == "redaction":
        target = redact(engine, [0]).seq
    elif what == "version 1":
        target = append_version_1(engine)
    else:
        target = 99
    before, _ = export(engine)
    with pytest.raises(EntryError):
        redact(engine, [target])
    assert export(engine)[0] == before


def test_stored_leaves_are_unchanged_by_redaction(engine):
    append_many(engine, 5)
    with engine.connect() as conn:
        leaves = conn.execute(select(ledger_entries.c.leaf_hash).order_by(ledger_entries.c.seq)).scalars().all()
    redact(engine, [0, 2])
    with engine.connect() as conn:
        after = conn.execute(select(ledger_entries.c.leaf_hash).order_by(ledger_entries.c.seq)).scalars().all()
    assert after[:5] == leaves
