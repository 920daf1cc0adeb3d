"""RFC 9162 Merkle tree: roots, proof generation from stored subtrees, verification.

Nodes are addressed as ``(level, index)``: the perfect subtree at ``level``
covering leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 is a
leaf hash.  Storage keeps every perfect subtree once it is complete, so the
root of any size and any proof needs only O(log n) of them, fetched in one
``NodeSource.get_nodes`` call.  Proof layout follows transparency-dev/merkle
(``proof/proof.go``), which produces exactly RFC 9162's PATH and PROOF.

Verification implements RFC 9162 §2.1.3.2 and §2.1.4.2 literally and raises
on every failure (never returns False).
"""

from __future__ import annotations

from collections.abc import Sequence
from hmac import compare_digest
from typing import Protocol

from .errors import ConsistencyProofError, InclusionProofError, ProofError
from .hashing import EMPTY_ROOT, HASH_SIZE, node_hash

NodeId = tuple[int, int]  # (level, index)


class NodeSource(Protocol):
    """Anything that returns the hashes of complete subtrees, in request order."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Sequence[bytes]: ...


# ---------------------------------------------------------------- tree shape


def perfect_subtrees(begin: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering leaves [begin, end), left to right.

    Valid when ``begin`` is a multiple of the largest power of two in
    ``end - begin`` (true for [0, n) and for the right edge of a proof),
    so the range splits along the binary digits of its width.
    """
    ids = []
    pos = begin
    width = end - begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            ids.append((level, pos >> level))
            pos += 1 << level
    return ids


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash left-to-right subtree roots into their RFC 9162 parent, right first."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _plan(index: int, level: int, size: int) -> tuple[list[NodeId], list[NodeId], list[NodeId]]:
    """Nodes proving that node (level, index) is in the tree of ``size`` leaves.

    Returns (siblings up to the fork, right range, left range).  The fork is
    where the path to our node leaves the path to leaf ``size``; below it
    every sibling is complete, the right range is the incomplete
    ("ephemeral") sibling of the fork, and the left range completes [0, size).
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    begin = fork_index << fork_level
    end = (fork_index + 1) << fork_level
    siblings = [(level + i, (index >> i) ^ 1) for i in range(inner)]
    return siblings, perfect_subtrees(end, size), perfect_subtrees(0, begin)


def _assemble(hashes: Sequence[bytes], n_before: int, n_right: int) -> list[bytes]:
    """Order fetched hashes as RFC 9162 wants: bottom-up siblings, ephemeral, left."""
    proof = list(hashes[:n_before])
    right = hashes[n_before : n_before + n_right]
    if right:
        proof.append(fold_right(right))
    proof.extend(reversed(hashes[n_before + n_right :]))
    return proof


# ---------------------------------------------------------------- generation


def root_from_source(size: int, source: NodeSource) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size)+1 stored nodes."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    ids = perfect_subtrees(0, size)
    return fold_right(list(source.get_nodes(ids))) if ids else EMPTY_ROOT


def inclusion_proof(index: int, size: int, source: NodeSource) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]) from stored subtrees (one batched read)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    siblings, right, left = _plan(index, 0, size)
    hashes = source.get_nodes(siblings + right + left)
    return _assemble(hashes, len(siblings), len(right))


def consistency_proof(old_size: int, new_size: int, source: NodeSource) -> list[bytes]:
    """RFC 9162 PROOF(old_size, D[new_size]) from stored subtrees (one batched read)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"cannot prove size {old_size} is a prefix of size {new_size}")
    if old_size == new_size or old_size == 0:
        return []
    # The largest perfect subtree ending at old_size seeds the proof; when
    # old_size is a power of two it *is* the old root, which the verifier
    # already holds, so it is left out.
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    siblings, right, left = _plan(index, level, new_size)
    before = siblings if index == 0 else [(level, index), *siblings]
    hashes = source.get_nodes(before + right + left)
    return _assemble(hashes, len(before), len(right))


class InMemoryTree:
    """A NodeSource over leaf hashes held in memory (tests, benchmarks, exports)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        return [self.levels[level][index] for level, index in ids]

    def root(self, size: int | None = None) -> bytes:
        return root_from_source(self.size if size is None else size, self)


class Frontier:
    """Right edge of the tree: roots of the perfect subtrees covering [0, size).

    Appending needs only this state, and reports each subtree it completes
    so storage can keep it for later proofs.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ProofError(f"a frontier of size {size} needs {bin(size).count('1')} hashes")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; return the (level, index, hash) of subtrees it completed."""
        completed = []
        h = leaf
        pos = self.size
        level = 0
        while pos >> level & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            completed.append((level, pos >> level, h))
        self.hashes.append(h)
        self.size = pos + 1
        return completed

    def root(self) -> bytes:
        return fold_right(self.hashes)

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


# ---------------------------------------------------------------- verification


def _check_hash(value: object, what: str, exc: type[ProofError]) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise exc(f"{what} is not a {HASH_SIZE}-byte hash")
    return bytes(value)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes] | None, root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise InclusionProofError unless ``leaf`` is at ``index``."""
    proof = list(proof or [])
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is not inside a tree of size {size}")
    r = _check_hash(leaf, "the leaf hash", InclusionProofError)
    _check_hash(root, "the root", InclusionProofError)
    fn, sn = index, size - 1
    for i, p in enumerate(proof):
        p = _check_hash(p, f"proof node {i}", InclusionProofError)
        if sn == 0:
            raise InclusionProofError(f"the proof has {len(proof) - i} more nodes than the tree needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError("the proof has too few nodes for this tree size")
    if not compare_digest(r, root):
        raise InclusionProofError(f"the proof for leaf {index} leads to a different root")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes] | None,
) -> None:
    """RFC 9162 §2.1.4.2: raise ConsistencyProofError unless new extends old."""
    proof = list(proof or [])
    if old_size < 0 or new_size < 0:
        raise ConsistencyProofError("tree sizes cannot be negative")
    if old_size > new_size:
        raise ConsistencyProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        # Same tree: nothing to prove, the roots must simply be identical.
        if proof:
            raise ConsistencyProofError("equal sizes need an empty proof")
        if old_size == 0 and (old_root != EMPTY_ROOT or new_root != EMPTY_ROOT):
            raise ConsistencyProofError("an empty tree has the root SHA-256(\"\")")
        if bytes(old_root) != bytes(new_root):
            raise ConsistencyProofError(f"two different roots for the same size {old_size}")
        return
    _check_hash(new_root, "the new root", ConsistencyProofError)
    if old_size == 0:
        # Every tree extends the empty tree; only the empty root is accepted.
        if proof:
            raise ConsistencyProofError("a proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ConsistencyProofError("an empty tree has the root SHA-256(\"\")")
        return
    old_root = _check_hash(old_root, "the old root", ConsistencyProofError)
    if not proof:
        raise ConsistencyProofError("the consistency proof is empty")
    path = [_check_hash(p, f"proof node {i}", ConsistencyProofError) for i, p in enumerate(proof)]
    if old_size & (old_size - 1) == 0:  # power of two: the old root is the seed
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("the proof has more nodes than the sizes need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError("the proof has too few nodes for these sizes")
    if not compare_digest(fr, old_root):
        raise ConsistencyProofError(f"the proof does not rebuild the old root at size {old_size}")
    if not compare_digest(sr, new_root):
        raise ConsistencyProofError(f"the proof does not rebuild the new root at size {new_size}")
