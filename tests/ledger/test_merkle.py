"""Merkle roots and proofs: transparency-dev vectors, pymerkle 7 roots, round trips."""

from __future__ import annotations

import base64
import json
import random

import pytest
from published import VECTORS as PUBLISHED
from pymerkle import InmemoryTree as PyMerkleTree

from consentry.ledger.errors import ConsistencyProofError, InclusionProofError, ProofError
from consentry.ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash
from consentry.ledger.merkle import (
    Frontier,
    InMemoryTree,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = PUBLISHED / "merkle"
INCLUSION = sorted(VECTORS.glob("inclusion/*/*.json"))
CONSISTENCY = sorted(VECTORS.glob("consistency/*/*.json"))


def _b64(value):
    return base64.b64decode(value) if value else b""


def _ids(paths):
    return [str(p.relative_to(VECTORS)) for p in paths]


def test_vector_folders_found():
    assert len(INCLUSION) > 80 and len(CONSISTENCY) > 80


@pytest.mark.parametrize("path", INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vectors(path):
    case = json.loads(path.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vectors(path):
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        _b64(case["root1"]),
        _b64(case["root2"]),
        [_b64(p) for p in case["proof"] or []],
    )
    if case["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _leaves(n, salt=b""):
    return [leaf_hash(salt + b"entry %d" % i) for i in range(n)]


def _pymerkle_root(n, salt=b""):
    tree = PyMerkleTree(algorithm="sha256")  # default keeps RFC 6962 0x00/0x01 prefixes
    for i in range(n):
        tree.append_entry(salt + b"entry %d" % i)
    return tree.get_root()


@pytest.mark.parametrize("sizes", [range(1, 301), random.Random(7).sample(range(301, 5000), 8)])
def test_roots_match_pymerkle(sizes):
    sizes = list(sizes)
    top = max(sizes)
    tree = PyMerkleTree(algorithm="sha256")
    frontier = Frontier()
    memory = InMemoryTree(_leaves(top))
    for i in range(top):
        tree.append_entry(b"entry %d" % i)
        frontier.append(leaf_hash(b"entry %d" % i))
        if i + 1 in sizes:
            want = tree.get_root()
            assert frontier.root() == want
            assert memory.root(i + 1) == want


def test_empty_root():
    assert InMemoryTree([]).root() == EMPTY_ROOT == Frontier().root()


def test_frontier_reports_every_completed_subtree():
    leaves = _leaves(77)
    memory = InMemoryTree(leaves)
    frontier = Frontier()
    seen = {}
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            seen[(level, index)] = h
    expected = {
        (level, index): h
        for level, row in enumerate(memory.levels)
        if level
        for index, h in enumerate(row)
    }
    assert seen == expected
    again = Frontier.from_bytes(frontier.size, frontier.to_bytes())
    assert again.root() == frontier.root() == memory.root()


def test_inclusion_and_consistency_round_trip_exhaustive_small():
    leaves = _leaves(40)
    memory = InMemoryTree(leaves)
    for size in range(1, 41):
        root = memory.root(size)
        for index in range(size):
            verify_inclusion(leaves[index], index, size, inclusion_proof(index, size, memory), root)
        for old in range(size + 1):
            proof = consistency_proof(old, size, memory)
            verify_consistency(old, size, memory.root(old), root, proof)


def test_proofs_are_logarithmic_and_reject_neighbours():
    leaves = _leaves(1000)
    memory = InMemoryTree(leaves)
    root = memory.root()
    proof = inclusion_proof(500, 1000, memory)
    assert len(proof) <= 10
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaves[501], 500, 1000, proof, root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaves[500], 500, 1000, proof[:-1], root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaves[500], 500, 1000, [*proof, proof[0]], root)
    cproof = consistency_proof(300, 1000, memory)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(300, 1000, memory.root(299), root, cproof)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(301, 1000, memory.root(300), root, cproof)


def test_generation_rejects_impossible_requests():
    memory = InMemoryTree(_leaves(4))
    with pytest.raises(ProofError):
        inclusion_proof(4, 4, memory)
    with pytest.raises(ProofError):
        consistency_proof(5, 4, memory)


def test_node_hash_shape():
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert InMemoryTree([a, b]).root() == node_hash(a, b)
