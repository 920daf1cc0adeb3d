"""Tampering done directly in the database, forks and rollbacks, on both backends."""

from __future__ import annotations

import pytest
from ledger_testlib import sample_entry
from sqlalchemy import delete, insert, select, update

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from consentry.ledger.db import LedgerReader, LedgerWriter, cut_checkpoint
from consentry.ledger.db.tables import ledger_entries, ledger_head, ledger_nodes
from consentry.ledger.entries import entry_leaf_hash
from consentry.ledger.errors import (
    ChainError,
    ForkError,
    RollbackError,
    RootMismatchError,
)
from consentry.ledger.hashing import chain_hash, leaf_hash
from consentry.ledger.verification import check_consistency, verify_log

ORIGIN = "consentry.test/ledger"
N = 20


@pytest.fixture
def log(engine, signer, now):
    """A 20-entry log with a checkpoint at 20; returns the signed note."""
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        for i in range(N):
            writer.append(sample_entry(i))
    with engine.begin() as conn:
        return cut_checkpoint(conn, signer, ORIGIN, now).note


def raw_rows(engine):
    """What a careless export would ship: every row, in seq order."""
    with engine.connect() as conn:
        return [r.entry for r in conn.execute(select(ledger_entries).order_by(ledger_entries.c.seq))]


def first_bad(engine, note, signer):
    with pytest.raises(ChainError) as info:
        verify_log(raw_rows(engine), note, signer.verifier, origin=ORIGIN)
    assert str(info.value).startswith(f"ledger entry {info.value.seq} is bad")
    return info.value.seq


def test_untouched_log_verifies(engine, log, signer):
    cp = verify_log(raw_rows(engine), log, signer.verifier, origin=ORIGIN, strict=True)
    assert cp.size == N


def test_updated_entry_is_named(engine, log, signer):
    with engine.begin() as conn:
        old = conn.execute(select(ledger_entries.c.entry).where(ledger_entries.c.seq == 7)).scalar()
        forged = old.replace(b'"policy":"rev-7"', b'"policy":"rev-8"')
        assert forged != old
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq == 7).values(entry=forged))
    assert first_bad(engine, log, signer) == 7


def test_updated_prev_is_named(engine, log, signer):
    with engine.begin() as conn:
        old = conn.execute(select(ledger_entries.c.entry).where(ledger_entries.c.seq == 9)).scalar()
        i = old.index(b'"prev":"') + 8
        forged = old[:i] + (b"0" if old[i:i + 1] != b"0" else b"1") + old[i + 1:]
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq == 9).values(entry=forged))
    assert first_bad(engine, log, signer) == 9


def test_deleted_entry_is_named(engine, log, signer):
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.seq == 12))
    assert first_bad(engine, log, signer) == 12


def test_deleted_last_entry_is_named(engine, log, signer):
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.seq == N - 1))
    assert first_bad(engine, log, signer) == N - 1


def test_swapped_entries_are_named(engine, log, signer):
    with engine.begin() as conn:
        rows = dict(conn.execute(select(ledger_entries.c.seq, ledger_entries.c.entry)
                                 .where(ledger_entries.c.seq.in_([5, 11]))).all())
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq == 5).values(entry=rows[11]))
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq == 11).values(entry=rows[5]))
    assert first_bad(engine, log, signer) == 5


def test_inserted_extra_entry_at_end_is_named(engine, log, signer):
    """A well-chained forgery appended behind the checkpoint is not covered by it."""
    rows = raw_rows(engine)
    prev = b"\x00" * 32
    for e in rows:
        prev = chain_hash(prev, entry_leaf_hash(e))
    forged = canonical_json({**sample_entry(N), "seq": N, "prev": prev.hex()})
    with engine.begin() as conn:
        conn.execute(insert(ledger_entries).values(
            seq=N, entry=forged, leaf_hash=leaf_hash(forged), chain_hash=chain_hash(prev, leaf_hash(forged))))
    assert first_bad(engine, log, signer) == N


def test_inserted_extra_entry_in_middle_is_named(engine, log, signer):
    """Shift rows 10.. up by one and slip a well-chained forgery in at 10."""
    rows = raw_rows(engine)
    prev = b"\x00" * 32
    for e in rows[:10]:
        prev = chain_hash(prev, entry_leaf_hash(e))
    forged = canonical_json({**sample_entry(1000), "seq": 10, "prev": prev.hex()})
    with engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq >= 10)
                     .values(seq=ledger_entries.c.seq + 1000))
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq >= 1000)
                     .values(seq=ledger_entries.c.seq - 999))
        conn.execute(insert(ledger_entries).values(
            seq=10, entry=forged, leaf_hash=leaf_hash(forged), chain_hash=prev))
    assert first_bad(engine, log, signer) == 10


def test_altered_last_entry_breaks_signed_root(engine, log, signer):
    with engine.begin() as conn:
        old = conn.execute(select(ledger_entries.c.entry).where(ledger_entries.c.seq == N - 1)).scalar()
        conn.execute(update(ledger_entries).where(ledger_entries.c.seq == N - 1)
                     .values(entry=old.replace(b'"kind":"access.decision"', b'"kind":"access.decisioN"')))
    with pytest.raises(RootMismatchError) as info:
        verify_log(raw_rows(engine), log, signer.verifier)
    assert info.value.size == N
    assert info.value.seq == N - 1 and f"ledger entry {N - 1} is bad" in info.value.explain()


def _append(engine, start, count):
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        for i in range(start, start + count):
            writer.append(sample_entry(i))


def test_fork_same_size_two_roots(engine, log, signer):
    trusted = verify_checkpoint(log, signer.verifier)
    other_root = leaf_hash(b"another history")
    forked_note = sign_checkpoint(signer, ORIGIN, N, other_root)
    forked = verify_checkpoint(forked_note, signer.verifier)
    with pytest.raises(ForkError):
        check_consistency(trusted, forked, [])
    with pytest.raises(ForkError):
        verify_log(raw_rows(engine), forked_note, signer.verifier, trusted=trusted)


def test_fork_rewritten_history_caught_by_proof_and_by_replay(engine, log, signer, now):
    """The operator rewrites entry 3, rebuilds the log and signs a bigger checkpoint."""
    trusted = verify_checkpoint(log, signer.verifier)
    rows = raw_rows(engine)
    with engine.begin() as conn:  # rebuild a diverging log in place
        conn.execute(delete(ledger_entries))
        conn.execute(delete(ledger_nodes))
        conn.execute(delete(ledger_head))
    _append(engine, 0, 3)
    _append(engine, 500, 1)  # a different entry 3
    _append(engine, 4, N + 5 - 4)
    with engine.begin() as conn:
        new_note = cut_checkpoint(conn, signer, ORIGIN, now).note
        new = verify_checkpoint(new_note, signer.verifier)
        proof = LedgerReader(conn).consistency_proof(N, new.size)
    assert new.size == N + 5 and rows != raw_rows(engine)
    with pytest.raises(ForkError):
        check_consistency(trusted, new, proof)
    with pytest.raises(ForkError):
        verify_log(raw_rows(engine), new_note, signer.verifier, trusted=trusted)


def test_honest_growth_is_consistent(engine, log, signer, now):
    trusted = verify_checkpoint(log, signer.verifier)
    _append(engine, N, 7)
    with engine.begin() as conn:
        new_note = cut_checkpoint(conn, signer, ORIGIN, now).note
        proof = LedgerReader(conn).consistency_proof(N)
    new = verify_checkpoint(new_note, signer.verifier)
    check_consistency(trusted, new, proof)
    assert verify_log(raw_rows(engine), new_note, signer.verifier, trusted=trusted) == new


def test_rollback_is_caught(engine, log, signer):
    trusted = verify_checkpoint(log, signer.verifier)
    with engine.connect() as conn:
        root15 = LedgerReader(conn).root(15)
    smaller_note = sign_checkpoint(signer, ORIGIN, 15, root15)
    smaller = verify_checkpoint(smaller_note, signer.verifier)
    with pytest.raises(RollbackError):
        check_consistency(trusted, smaller, [])
    with pytest.raises(RollbackError):
        verify_log(raw_rows(engine)[:15], smaller_note, signer.verifier, trusted=trusted)


def test_wrong_key_or_origin_refused(engine, log, signer):
    from consentry.ledger.checkpoint import NoteSigner
    from consentry.ledger.errors import CheckpointError, SignatureError

    with pytest.raises(SignatureError):
        verify_log(raw_rows(engine), log, NoteSigner.generate("consentry.test/ledger").verifier)
    with pytest.raises(CheckpointError):
        verify_log(raw_rows(engine), log, signer.verifier, origin="someone.else/log")


def test_trusted_from_other_origin(engine, log, signer):
    with pytest.raises(ForkError):
        verify_log(raw_rows(engine), log, signer.verifier,
                   trusted=Checkpoint("other/log", 1, b"\x00" * 32))
