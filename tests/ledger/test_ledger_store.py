"""DB-backed ledger on SQLite and PostgreSQL: appends, roots, proofs, atomicity."""

from __future__ import annotations

import random

import pytest
from pymerkle import InmemoryTree as PyMerkleTree
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from consentry.ledger.errors import EntryError, ProofError, StoreError
from consentry.ledger.hashing import EMPTY_ROOT, ZERO_HASH, chain_hash, leaf_hash
from consentry.ledger.merkle import verify_consistency, verify_inclusion
from consentry.ledger.store import (
    LedgerReader,
    LedgerWriter,
    ledger_entries,
    ledger_head,
)
from consentry.ledger.verify import replay

from ledger_testlib import sample_entry


def append_many(engine, count, per_txn=1, start=0):
    out = []
    i = start
    while i < start + count:
        with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            for _ in range(min(per_txn, start + count - i)):
                out.append(writer.append(sample_entry(i)))
                i += 1
    return out


def test_empty_ledger(db):
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        assert reader.size() == 0
        assert reader.root() == EMPTY_ROOT
        assert reader.latest_checkpoint() is None
        assert reader.entries() == []


def test_append_fills_seq_prev_and_chain(db):
    appended = append_many(db.engine, 5, per_txn=2)
    chain = ZERO_HASH
    for i, a in enumerate(appended):
        assert a.seq == i
        assert f'"prev":"{chain.hex()}"'.encode() in a.entry_bytes
        assert a.leaf_hash == leaf_hash(a.entry_bytes)
        chain = chain_hash(chain, a.leaf_hash)
        assert a.chain_hash == chain
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        rows = reader.entries(0, 100)
        assert [r.entry for r in rows] == [a.entry_bytes for a in appended]
        assert reader.head().chain_hash == chain


def test_next_seq_is_known_before_append(db):
    append_many(db.engine, 3)
    with db.engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        seq = writer.next_seq
        assert seq == 3
        assert writer.append({"kind": "x", "share_header": {"ledger_seq": seq}}).seq == seq


def test_roots_and_proofs_from_store_match_pymerkle(db):
    n = 300
    appended = append_many(db.engine, n, per_txn=37)
    tree = PyMerkleTree(algorithm="sha256")
    for a in appended:
        tree.append_entry(a.entry_bytes)
    rng = random.Random(1)
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        assert reader.size() == n
        for size in list(range(0, 40)) + rng.sample(range(40, n + 1), 40) + [n]:
            want = tree.get_root(size) if size else EMPTY_ROOT
            assert reader.root(size) == want
        for _ in range(150):
            size = rng.randint(1, n)
            index = rng.randrange(size)
            proof = reader.inclusion_proof(index, size)
            verify_inclusion(appended[index].leaf_hash, index, size, proof, tree.get_root(size))
        for _ in range(150):
            new = rng.randint(1, n)
            old = rng.randint(1, new)
            proof = reader.consistency_proof(old, new)
            verify_consistency(old, new, tree.get_root(old), tree.get_root(new), proof)
        with pytest.raises(StoreError):
            reader.root(n + 1)
        with pytest.raises(StoreError):
            reader.inclusion_proof(0, n + 1)


def test_export_replays_to_stored_root(db):
    append_many(db.engine, 123, per_txn=10)
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        result = replay(reader.export(chunk=17), strict=True)
        assert result.size == 123
        assert result.root == reader.root()
        assert result.chain_hash == reader.head().chain_hash


def _business_table(engine):
    meta = MetaData()
    table = Table("ledger_test_state_change", meta, Column("id", Integer, primary_key=True))
    meta.create_all(engine)
    return table


def test_failure_inside_transaction_leaves_neither(db):
    consents = _business_table(db.engine)
    append_many(db.engine, 2)
    with pytest.raises(RuntimeError):
        with db.engine.begin() as conn:
            conn.execute(insert(consents).values(id=1))  # the state change
            with LedgerWriter.lock(conn) as writer:
                writer.append(sample_entry(99))
            raise RuntimeError("crash after append, before commit")
    with pytest.raises(RuntimeError):
        with db.engine.begin() as conn:
            conn.execute(insert(consents).values(id=2))
            with LedgerWriter.lock(conn) as writer:
                writer.append(sample_entry(99))
                raise RuntimeError("crash between append and flush")
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
        assert LedgerReader(conn).size() == 2
        assert conn.execute(select(func.count()).select_from(ledger_entries)).scalar() == 2
    # and the log continues gap-free afterwards
    assert append_many(db.engine, 1, start=2)[0].seq == 2


def test_failed_append_rolls_back_state_change(db):
    consents = _business_table(db.engine)
    with pytest.raises(EntryError):
        with db.engine.begin() as conn:
            conn.execute(insert(consents).values(id=1))
            with LedgerWriter.lock(conn) as writer:
                writer.append({"kind": "x", "seq": 5})  # the ledger owns seq
    with pytest.raises(Exception):
        with db.engine.begin() as conn:
            conn.execute(insert(consents).values(id=1))
            with LedgerWriter.lock(conn) as writer:
                writer.append({"kind": "x", "amount": 1.5})  # floats refused
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
        assert LedgerReader(conn).size() == 0


def test_forgotten_flush_cannot_commit(db):
    consents = _business_table(db.engine)
    with pytest.raises(EntryError):
        with db.engine.begin() as conn:
            conn.execute(insert(consents).values(id=1))
            writer = LedgerWriter.lock(conn)
            writer.append(sample_entry(0))
            # no flush, no context manager: commit must refuse
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
    # explicit flush works, and the same connection keeps working after
    with db.engine.connect() as conn:
        for i in range(3):
            with conn.begin():
                writer = LedgerWriter.lock(conn)
                writer.append(sample_entry(i))
                writer.flush()
        assert LedgerReader(conn).size() == 3


def test_orm_session_connection(db):
    from sqlalchemy.orm import Session

    with Session(db.engine) as session:
        with LedgerWriter.lock(session.connection()) as writer:
            writer.append(sample_entry(0))
        session.commit()
    with db.engine.connect() as conn:
        assert LedgerReader(conn).size() == 1


def test_nested_seq_or_prev_keys_refused(db):
    with pytest.raises(EntryError):
        with db.engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            writer.append({"kind": "x", "details": {"seq": 1}})
    with db.engine.connect() as conn:
        assert LedgerReader(conn).size() == 0


def test_head_row_is_single(db):
    append_many(db.engine, 1)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_head)).scalar() == 1


def test_lock_needs_transaction(db):
    with db.engine.connect() as conn:
        conn.commit()  # make sure no autobegun transaction is open
        with pytest.raises(StoreError):
            LedgerWriter.lock(conn)


def test_second_lock_with_unflushed_writer_refused(db):
    with pytest.raises(EntryError):
        with db.engine.begin() as conn:
            first = LedgerWriter.lock(conn)
            first.append(sample_entry(0))
            LedgerWriter.lock(conn)
    with db.engine.begin() as conn:  # after a flush a second lock is fine
        with LedgerWriter.lock(conn) as w:
            w.append(sample_entry(0))
        with LedgerWriter.lock(conn) as w:
            assert w.append(sample_entry(1)).seq == 1


def test_package_is_standalone():
    import subprocess
    import sys

    code = ("import sys, consentry.ledger; "
            "bad = [m for m in sys.modules if m.startswith(('grpc', 'consentry.services'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_writer_is_stale_after_savepoint_rollback(db):
    with db.engine.begin() as conn:
        writer = LedgerWriter.lock(conn)
        writer.append(sample_entry(0))
        writer.flush()
        savepoint = conn.begin_nested()
        writer.append(sample_entry(1))
        writer.flush()
        savepoint.rollback()
        with pytest.raises(EntryError):
            writer.append(sample_entry(2))
        with LedgerWriter.lock(conn) as fresh:
            assert fresh.next_seq == 1
            fresh.append(sample_entry(1))
    with db.engine.connect() as conn:
        assert replay(LedgerReader(conn).export(), strict=True).size == 2


def test_proofs_at_current_size_use_the_frontier(db):
    """size=None takes the left/right ranges from the head's frontier: same bytes."""
    from consentry.ledger.store import LedgerReader as Reader

    appended = []
    rng = random.Random(3)
    for n in (1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 33, 64, 100):
        appended += append_many(db.engine, n - len(appended), per_txn=50, start=len(appended))
        with db.engine.connect() as conn:
            reader = Reader(conn)
            root = reader.root()
            for index in sorted({0, n - 1, n // 2, rng.randrange(n)}):
                proof = reader.inclusion_proof(index)
                assert proof == reader.inclusion_proof(index, n)
                verify_inclusion(appended[index].leaf_hash, index, n, proof, root)
            for old in sorted({0, 1, n - 1, n, max(1, n // 2), rng.randint(0, n)}):
                proof = reader.consistency_proof(old)
                assert proof == reader.consistency_proof(old, n)
                verify_consistency(old, n, reader.root(old), root, proof)


def test_proof_size_checks(db):
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)  # empty ledger, no head row yet
        assert reader.consistency_proof(0) == reader.consistency_proof(0, 0) == []
        with pytest.raises(StoreError):
            reader.consistency_proof(0, 1)
        with pytest.raises(StoreError):
            reader.inclusion_proof(0, 1)
        with pytest.raises(ProofError):
            reader.inclusion_proof(0)
    append_many(db.engine, 10, per_txn=10)
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        for call in (
            lambda: reader.inclusion_proof(0, 11),
            lambda: reader.inclusion_proof(10, 11),  # every node exists, the size does not
            lambda: reader.inclusion_proof(20, 11),  # the size is reported first
            lambda: reader.inclusion_proof(0, -1),
            lambda: reader.consistency_proof(3, 11),
            lambda: reader.consistency_proof(11, 11),
            lambda: reader.consistency_proof(12, 11),
            lambda: reader.consistency_proof(0, 11),
            lambda: reader.consistency_proof(1, -1),
        ):
            with pytest.raises(StoreError):
                call()
        for call in (
            lambda: reader.inclusion_proof(10, 10),
            lambda: reader.inclusion_proof(-1, 10),
            lambda: reader.consistency_proof(5, 4),
            lambda: reader.consistency_proof(-1, 4),
        ):
            with pytest.raises(ProofError):
                call()
        assert reader.consistency_proof(10, 10) == []


def test_get_nodes_many_and_missing(db):
    from consentry.ledger.merkle import InMemoryTree
    from consentry.ledger.store import ledger_nodes

    appended = append_many(db.engine, 200, per_txn=200)
    memory = InMemoryTree([a.leaf_hash for a in appended])
    ids = [(level, index) for level in range(8) for index in range(200 >> level)]
    ids = ids + ids[::-1]  # more than one SQLite batch, with repeats, in any order
    with db.engine.connect() as conn:
        assert LedgerReader(conn).get_nodes(ids) == memory.get_nodes(ids)
        assert LedgerReader(conn).get_nodes([]) == []
    with db.engine.begin() as conn:
        conn.execute(ledger_nodes.delete().where(ledger_nodes.c.level == 3, ledger_nodes.c.idx == 5))
    with db.engine.connect() as conn:
        with pytest.raises(StoreError, match="missing"):
            LedgerReader(conn).inclusion_proof(33, 200)  # (3, 5) is its level-3 sibling
        LedgerReader(conn).inclusion_proof(0, 200)
