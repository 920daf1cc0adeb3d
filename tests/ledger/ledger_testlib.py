"""Helpers shared by the ledger tests (importable from spawned processes too)."""

from __future__ import annotations


def sample_entry(i: int) -> dict:
    """A realistic access-decision entry (pseudonymous, no clinical content)."""
    return {
        "time": f"2026-11-25T12:00:{i % 60:02d}Z",
        "kind": "access.decision",
        "actor": f"clinician:hospital-a/u{i % 7}",
        "patient": f"{i % 13:064x}",
        "decision": "allow" if i % 3 else "deny",
        "reasons": [f"consent:c-{i}", "purpose:treatment"],
        "policy": "rev-7",
        "record": {"id": f"rec-{i}", "sha256": f"{i:064x}"},
    }


def append_worker(url: str, worker: int, count: int, start_at: float) -> int:
    """Runs in a separate process: append ``count`` entries in small random batches."""
    import random
    import time

    from backends import make_engine

    from consentry.ledger.db import LedgerWriter

    engine = make_engine(url)
    rng = random.Random(worker)
    with engine.connect():  # connect first, then start together
        pass
    time.sleep(max(0.0, start_at - time.time()))
    done = 0
    while done < count:
        batch = min(rng.randint(1, 5), count - done)
        with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            for _ in range(batch):
                seq = writer.next_seq
                got = writer.append({"kind": "test", "worker": worker, "n": done, "expect": seq})
                assert got.seq == seq
                done += 1
    engine.dispose()
    return done


def append_many(engine, count: int, per_txn: int = 1, start: int = 0) -> list:
    """Append ``sample_entry(start ..)`` ``count`` times, ``per_txn`` to a transaction."""
    from consentry.ledger.db import LedgerWriter

    out = []
    i = start
    while i < start + count:
        with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            for _ in range(min(per_txn, start + count - i)):
                out.append(writer.append(sample_entry(i)))
                i += 1
    return out
