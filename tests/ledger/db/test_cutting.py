"""cut_checkpoint on SQLite and PostgreSQL: a checkpoint is signed when due, never twice."""

from __future__ import annotations

from datetime import timedelta

from consentry.ledger.checkpoint import CheckpointPolicy, verify_checkpoint
from consentry.ledger.db import LedgerReader, LedgerWriter, cut_checkpoint


def test_cut_checkpoint_stores_and_never_resigns(engine, signer, now):
    origin = "consentry.test/ledger"
    policy = CheckpointPolicy(every_entries=10, every_seconds=60)
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        for i in range(5):
            writer.append({"kind": "k", "n": i})
    with engine.begin() as conn:
        first = cut_checkpoint(conn, signer, origin, now, policy)
    assert first.size == 5
    cp = verify_checkpoint(first.note, signer.verifier, origin)
    assert cp.root == first.root
    with engine.begin() as conn:
        assert LedgerReader(conn).root(5) == cp.root
        again = cut_checkpoint(conn, signer, origin, now + timedelta(hours=1))
    assert again == first  # no growth: the stored one comes back, unsigned anew
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        writer.append({"kind": "k", "n": 5})
    with engine.begin() as conn:
        assert cut_checkpoint(conn, signer, origin, now + timedelta(seconds=1), policy) == first
        later = cut_checkpoint(conn, signer, origin, now + timedelta(seconds=61), policy)
    assert later.size == 6 and later.time == now + timedelta(seconds=61)
    with engine.connect() as conn:
        assert LedgerReader(conn).latest_checkpoint() == later
        assert LedgerReader(conn).checkpoint(5) == first
