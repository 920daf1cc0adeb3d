"""LedgerReader on SQLite and PostgreSQL: entries, roots and proofs from stored subtrees."""

from __future__ import annotations

import random

import pytest
from ledger_testlib import append_many
from pymerkle import InmemoryTree as PyMerkleTree

from consentry.ledger.db import LedgerReader
from consentry.ledger.db.tables import ledger_nodes
from consentry.ledger.entries import leaf_data
from consentry.ledger.errors import ProofError, StoreError
from consentry.ledger.hashing import EMPTY_ROOT
from consentry.ledger.merkle import InMemoryTree, verify_consistency, verify_inclusion
from consentry.ledger.verification import replay


def test_empty_ledger(engine):
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        assert reader.size() == 0
        assert reader.root() == EMPTY_ROOT
        assert reader.latest_checkpoint() is None
        assert reader.entries() == []


def test_roots_and_proofs_from_store_match_pymerkle(engine):
    n = 300
    appended = append_many(engine, n, per_txn=37)
    tree = PyMerkleTree(algorithm="sha256")
    for a in appended:
        tree.append_entry(leaf_data(a.entry_bytes))
    rng = random.Random(1)
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        assert reader.size() == n
        for size in list(range(40)) + rng.sample(range(40, n + 1), 40) + [n]:
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


def test_export_replays_to_stored_root(engine):
    append_many(engine, 123, per_txn=10)
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        result = replay(reader.export(chunk=17), strict=True)
        assert result.size == 123
        assert result.root == reader.root()
        assert result.chain_hash == reader.head().chain_hash


def test_entries_at_returns_the_stored_entries_in_seq_order(engine):
    appended = append_many(engine, 600, per_txn=600)
    # unordered, repeated, past the end, and more than one SQLite batch
    asked = [599, 3, 0, 3, 257, 600, 10_000, 256, *range(300, 560)]
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        got = reader.entries_at(asked)
        assert reader.entries_at([]) == []
        assert reader.entries_at([600, 601]) == []
    want = sorted({seq for seq in asked if seq < 600})
    assert [e.seq for e in got] == want
    assert [(e.entry, e.leaf_hash, e.chain_hash) for e in got] == [
        (appended[seq].entry_bytes, appended[seq].leaf_hash, appended[seq].chain_hash) for seq in want
    ]


def test_proofs_at_current_size_use_the_frontier(engine):
    """size=None takes the left/right ranges from the head's frontier: same bytes."""
    appended = []
    rng = random.Random(3)
    for n in (1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 33, 64, 100):
        appended += append_many(engine, n - len(appended), per_txn=50, start=len(appended))
        with engine.connect() as conn:
            reader = LedgerReader(conn)
            root = reader.root()
            for index in sorted({0, n - 1, n // 2, rng.randrange(n)}):
                proof = reader.inclusion_proof(index)
                assert proof == reader.inclusion_proof(index, n)
                verify_inclusion(appended[index].leaf_hash, index, n, proof, root)
            for old in sorted({0, 1, n - 1, n, max(1, n // 2), rng.randint(0, n)}):
                proof = reader.consistency_proof(old)
                assert proof == reader.consistency_proof(old, n)
                verify_consistency(old, n, reader.root(old), root, proof)


def test_proof_size_checks(engine):
    with engine.connect() as conn:
        reader = LedgerReader(conn)  # empty ledger, no head row yet
        assert reader.consistency_proof(0) == reader.consistency_proof(0, 0) == []
        with pytest.raises(StoreError):
            reader.consistency_proof(0, 1)
        with pytest.raises(StoreError):
            reader.inclusion_proof(0, 1)
        with pytest.raises(ProofError):
            reader.inclusion_proof(0)
    append_many(engine, 10, per_txn=10)
    with engine.connect() as conn:
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


def test_get_nodes_many_and_missing(engine):
    appended = append_many(engine, 200, per_txn=200)
    memory = InMemoryTree([a.leaf_hash for a in appended])
    ids = [(level, index) for level in range(8) for index in range(200 >> level)]
    ids = ids + ids[::-1]  # more than one SQLite batch, with repeats, in any order
    with engine.connect() as conn:
        assert LedgerReader(conn).get_nodes(ids) == memory.get_nodes(ids)
        assert LedgerReader(conn).get_nodes([]) == []
    with engine.begin() as conn:
        conn.execute(ledger_nodes.delete().where(ledger_nodes.c.level == 3, ledger_nodes.c.idx == 5))
    with engine.connect() as conn:
        with pytest.raises(StoreError, match="missing"):
            LedgerReader(conn).inclusion_proof(33, 200)  # (3, 5) is its level-3 sibling
        LedgerReader(conn).inclusion_proof(0, 200)
