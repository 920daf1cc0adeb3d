"""Offline verification of an exported ledger (JSON Lines of entry bytes); the command is ``verify.py``.

Recomputes every leaf hash, the hash chain and the Merkle root, checks each
entry's ``seq`` and ``prev`` against the running values, checks the signed
checkpoint, and checks that the log still extends a previously trusted
checkpoint.  The first bad sequence number is named in the exception: for the last
entry the checkpoint covers, which no later ``prev`` commits to, by the signed root.

Speed: the hot loop never parses JSON.  The writer guarantees that the byte
patterns ``"seq":`` and ``"prev":`` occur exactly once in an entry (the
top-level fields it adds), so the fast check reads the value after the last
occurrence of each.  That is sound against anyone who alters stored entries
without the signing key: any change to an entry's bytes changes its leaf,
which breaks the next entry's ``prev`` or the signed root.  ``strict=True``
also parses every entry and checks it is canonical RFC 8785 with exactly one
(top-level) ``seq`` and ``prev`` -- use it to audit the operator itself.
Parsing otherwise happens only to explain a failure.

Entries of format version 2 are salted and their leaves commit to a hash of the entry, so a
redacted one is a tombstone that keeps its leaf (``entries.py``).  A tombstone verifies only when
a later ``ledger.redacted`` entry names its seq: deleting an entry without ledgering why is
refused even though every hash still checks out.
"""

from __future__ import annotations

import itertools
import json
from binascii import hexlify
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from .canonical import canonical_json
from .checkpoint import Checkpoint, NoteVerifier, parse_checkpoint, split_note
from .cosignature import CosignatureVerifier
from .entries import LEAF_V2, REDACTED_KIND, SALT_KEY, entry_leaf_hash, tombstone_commitment
from .errors import (
    ChainError,
    CheckpointError,
    ConsistencyProofError,
    ForkError,
    LedgerError,
    RollbackError,
    RootMismatchError,
)
from .hashing import ZERO_HASH, chain_hash
from .key_rotation import KeyHistory
from .merkle import fold_right, verify_consistency

_SEQ = b'"seq":'
_PREV_KEY = b'"prev":'
_REDACTION = b'"kind":"%s"' % REDACTED_KIND.encode("ascii")
_SALT_HEX = 2 * 32


@dataclass
class Replay:
    """What replaying entries 0..size-1 produced."""

    size: int
    root: bytes
    chain_hash: bytes
    roots: dict[int, bytes] = field(default_factory=dict)  # root at requested sizes
    redacted: list[int] = field(default_factory=list)  # seqs of the tombstones, in order


def replay(
    entries: Iterable[bytes], *, roots_at: Collection[int] = (), strict: bool = False
) -> Replay:
    """Check seq/prev of every entry and recompute chain and root.

    ``entries`` yields entry bytes in order, with or without a trailing
    newline.  ``roots_at`` asks for the root at extra sizes (e.g. an older
    trusted checkpoint).  Raises ChainError naming the first bad entry, or
    the first tombstone that no later ``ledger.redacted`` entry accounts for.
    """
    want = set(roots_at)
    roots: dict[int, bytes] = {}
    if 0 in want:
        roots[0] = fold_right([])
    stack: list[bytes] = []  # frontier: roots of perfect subtrees, left to right
    chain = ZERO_HASH
    last = ZERO_HASH  # chain before the previous entry, to name inserted entries
    n = 0
    it = iter(entries)
    # Local names: attribute and global lookups dominate a loop this tight.
    h256 = sha256
    seq_key, prev_key, salt_key, redaction = _SEQ, _PREV_KEY, SALT_KEY, _REDACTION
    tombstones: list[int] = []
    accounted: dict[int, int] = {}  # redacted seq -> the first ledger.redacted entry naming it
    for raw in it:
        e = raw[:-1] if raw[-1:] == b"\n" else raw
        # seq and prev: the last occurrence of each key pattern (rfind: the
        # keys sort late, so this scans little) holds n / the running chain
        # hash in lowercase hex.  The writer never emits a second occurrence;
        # strict mode proves it (and checks the JSON around them), at the
        # price of a full parse.
        i = e.rfind(seq_key) + 6
        j = e.rfind(prev_key) + 8
        if (
            i == 5
            or j == 7
            or not (e.startswith(b"%d," % n, i) or e.startswith(b"%d}" % n, i))
            or not e.startswith(hexlify(chain), j)
            or not e.endswith(b"}")  # cut short (a truncated export), though seq and prev survived
        ):
            _diagnose(n, e, chain, last, it)
        if strict:
            _strict_check(n, e, chain)
        if salt_key in e:
            leaf = h256(b"\x00" + LEAF_V2 + h256(e).digest()).digest()
        else:
            digest = tombstone_commitment(e)
            if digest is None:
                leaf = h256(b"\x00" + e).digest()
            else:
                leaf = h256(b"\x00" + LEAF_V2 + digest).digest()
                tombstones.append(n)
        if redaction in e:
            _note_redaction(n, e, accounted)
        last = chain
        chain = h256(chain + leaf).digest()
        # --- root: merge equal-sized subtrees, like binary carry
        h = leaf
        k = n
        while k & 1:
            h = h256(b"\x01" + stack.pop() + h).digest()
            k >>= 1
        stack.append(h)
        n += 1
        if want and n in want:
            roots[n] = fold_right(stack)
    for seq in tombstones:
        if accounted.get(seq, -1) <= seq:
            raise ChainError(seq, "it is a tombstone that no later ledger.redacted entry accounts for")
    return Replay(n, fold_right(stack), chain, roots, tombstones)


def _note_redaction(n: int, e: bytes, accounted: dict[int, int]) -> None:
    """Records the seqs a top-level ``ledger.redacted`` entry at ``n`` names."""
    obj = _parse(n, e)
    if obj.get("kind") != REDACTED_KIND:
        return
    seqs = obj.get("seqs")
    if not isinstance(seqs, list) or not all(type(s) is int and 0 <= s < n for s in seqs):
        raise ChainError(n, "it is a ledger.redacted entry whose seqs are not earlier entries")
    for seq in seqs:
        accounted.setdefault(seq, n)


def _parse(n: int, e: bytes) -> dict:
    try:
        obj = json.loads(e)
    except ValueError:
        raise ChainError(n, "it is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ChainError(n, "it is not a JSON object")
    return obj


def _strict_check(n: int, e: bytes, chain: bytes) -> None:
    if e.count(_SEQ) != 1 or e.count(_PREV_KEY) != 1:
        raise ChainError(n, "it has nested seq/prev keys, which the ledger never writes")
    obj = _parse(n, e)
    if obj.get("seq") != n or type(obj.get("seq")) is not int or obj.get("prev") != chain.hex():
        raise ChainError(n, "its top-level seq/prev fields are wrong")
    try:
        canonical = canonical_json(obj)
    except LedgerError:
        canonical = None
    if canonical != e:
        raise ChainError(n, "it is not in RFC 8785 canonical form")
    if SALT_KEY in e:
        salt = obj.get("salt")
        if e.count(SALT_KEY) != 1 or not isinstance(salt, str) or len(salt) != _SALT_HEX:
            raise ChainError(n, "its salt is not one top-level field of 64 hex digits")


def _diagnose(n: int, e: bytes, chain: bytes, last: bytes, rest: Iterator[bytes]) -> None:
    """Explain the failed fast check at position n; always raises ChainError."""
    try:
        obj = _parse(n, e)
    except ChainError:
        if next(rest, None) is None:  # the export ends inside this entry
            raise ChainError(n, "it is cut short: the export ends inside it (truncated)") from None
        raise
    seq = obj.get("seq")
    if type(seq) is not int:
        raise ChainError(n, "it has no integer seq field")
    if seq > n:
        raise ChainError(n, f"it is missing: entry {seq} comes where {n} was expected")
    if seq == n - 1 and obj.get("prev") == last.hex():
        # Two entries claim seq n-1 and both follow entry n-2.  The one the
        # next entry chains to is the original; the other was inserted.
        if _successor_prev(rest) == chain_hash(last, entry_leaf_hash(e)).hex():
            raise ChainError(n - 1, f"it was inserted: entry {n} has the same seq and the log continues from that one")
        raise ChainError(n, f"it duplicates entry {seq} (inserted)")
    if seq < n:
        raise ChainError(n, f"found entry {seq} again (out of order or duplicated)")
    prev = obj.get("prev")
    if not isinstance(prev, str) or len(prev) != 64:
        raise ChainError(n, "it has no 64-hex-digit prev field")
    if prev == chain.hex():
        raise ChainError(n, "it has nested seq/prev keys or extra bytes the ledger never writes")
    if n > 0:
        # Either entry n-1 was altered (n's prev no longer matches it) or n's
        # prev was.  If n is consistent with its successor, n is intact and
        # n-1 is the altered one.
        nxt_prev = _successor_prev(rest)
        try:
            expected = chain_hash(bytes.fromhex(prev), entry_leaf_hash(e)).hex()
        except ValueError:
            expected = None
        if nxt_prev is not None and nxt_prev == expected:
            raise ChainError(
                n - 1, f"it was altered: it no longer hashes to the prev recorded in entry {n}"
            )
    raise ChainError(n, f"its prev does not match the hash chain of entries 0..{n - 1}")


def _successor_prev(rest: Iterator[bytes]) -> str | None:
    """The prev field of the next entry, if there is one and it parses."""
    nxt = next(rest, None)
    if nxt is None:
        return None
    try:
        value = json.loads(nxt).get("prev")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _rollback(trusted: Checkpoint, seen: Checkpoint) -> RollbackError:
    return RollbackError(
        f"rollback: the log shrank from {trusted.size} entries (trusted, root {trusted.root.hex()}) "
        f"to {seen.size} entries (root {seen.root.hex()})",
        trusted,
        seen,
    )


def _fork(trusted: Checkpoint, seen: Checkpoint, why: str) -> ForkError:
    return ForkError(
        f"split view: {why}: trusted {trusted.size} entries with root {trusted.root.hex()}, "
        f"shown {seen.size} entries with root {seen.root.hex()}",
        trusted,
        seen,
    )


def _check_order(trusted: Checkpoint, new: Checkpoint) -> None:
    """What two checkpoints alone can show: another log, a rollback, two roots for one size."""
    if trusted.origin != new.origin:
        raise ForkError(f"trusted checkpoint is for {trusted.origin!r}, not {new.origin!r}", trusted, new)
    if new.size < trusted.size:
        raise _rollback(trusted, new)
    if new.size == trusted.size and new.root != trusted.root:
        raise _fork(trusted, new, f"two different roots were signed for size {new.size}")


def check_consistency(trusted: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
    """Check ``new`` extends ``trusted`` using an RFC 9162 consistency proof.

    Raises RollbackError or ForkError naming both checkpoints (sizes and roots).
    """
    _check_order(trusted, new)
    try:
        verify_consistency(trusted.size, new.size, trusted.root, new.root, proof)
    except ConsistencyProofError as exc:
        raise _fork(trusted, new, f"the new checkpoint does not extend the trusted one ({exc})") from exc


def verify_log(
    entries: Iterable[bytes],
    note: str,
    verifier: NoteVerifier,
    *,
    origin: str | None = None,
    trusted: Checkpoint | None = None,
    allow_unsigned_tail: bool = False,
    strict: bool = False,
    keys: KeyHistory | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
) -> Checkpoint:
    """Verify exported entries against a signed checkpoint (and a trusted one).

    Returns the verified checkpoint, which the caller can trust next time.
    Entries past the checkpoint are refused unless ``allow_unsigned_tail``
    (their chain is still checked, but nothing signed covers them).

    The checkpoint must be signed by ``verifier`` or by a key the log rotated it to, and not
    only by a revoked key (``key_rotation.py``; ``witnesses`` vouch for a revoked key's
    checkpoint made before the revocation). Pass ``keys`` to learn the keys followed.
    """
    checkpoint = parse_checkpoint(split_note(note)[0])
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    history = keys if keys is not None else KeyHistory(verifier, checkpoint.origin)
    if trusted is not None:
        _check_order(trusted, checkpoint)
    sizes = {checkpoint.size} | ({trusted.size} if trusted else set())
    rest = iter(entries)
    # Only the entries the checkpoint covers can hand the key over.
    seen = history.watch(itertools.islice(rest, checkpoint.size))
    result = replay(itertools.chain(seen, rest), roots_at=sizes, strict=strict)
    if result.size < checkpoint.size:
        raise ChainError(
            result.size,
            f"it is missing: the export ends there but the checkpoint covers {checkpoint.size}",
        )
    if result.size > checkpoint.size and not allow_unsigned_tail:
        raise ChainError(checkpoint.size, "it is not covered by the signed checkpoint")
    if result.roots[checkpoint.size] != checkpoint.root:
        # Each entry's prev commits to all before it, so entries 0..size-2 are those the last
        # covered entry chains to: only the signed root commits to that last one.
        raise RootMismatchError(checkpoint.size, checkpoint.root, result.roots[checkpoint.size])
    # The entries are the log the checkpoint commits to: only now are its rotations known.
    history.accept(note, witnesses)
    if trusted is not None and result.roots[trusted.size] != trusted.root:
        raise _fork(
            trusted,
            checkpoint,
            f"the entries hash to root {result.roots[trusted.size].hex()} at size {trusted.size}, "
            "so the log was rewritten after the trusted checkpoint",
        )
    return checkpoint


def read_jsonl(path: str | Path) -> Iterator[bytes]:
    """Yield raw lines (entry bytes) from a JSON Lines export."""
    with open(path, "rb") as fh:
        yield from fh
