"""The three hash functions of the ledger (RFC 9162 §2.1 plus the chain).

Domain-separation prefixes (0x00 for leaves, 0x01 for interior nodes) make a
leaf impossible to pass off as an interior node (second-preimage attack).
"""

from __future__ import annotations

from hashlib import sha256

HASH_SIZE = 32

# chain[-1]: the chain value "before" the first entry.
ZERO_HASH = bytes(HASH_SIZE)

# MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the Merkle leaf of one canonical entry."""
    return sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior Merkle node."""
    return sha256(_NODE_PREFIX + left + right).digest()


def chain_hash(prev_chain: bytes, leaf: bytes) -> bytes:
    """chain[n] = SHA-256(chain[n-1] || leaf[n]), with chain[-1] = 32 zero bytes."""
    return sha256(prev_chain + leaf).digest()
