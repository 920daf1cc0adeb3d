"""Entry formats: what a leaf commits to, and the tombstone a redacted entry leaves.

Version 1 (the first ledgers): the leaf is RFC 9162's hash of the entry bytes themselves,
``SHA-256(0x00 || entry)``, so the bytes can never be removed without breaking the tree.

Version 2 (every entry written since): the writer adds a top-level ``salt`` (32 random bytes,
64 lowercase hex) and the leaf commits to a hash of the entry instead of the entry::

    commitment = SHA-256(entry bytes)                 (the salt is inside them)
    leaf data  = 0x02 || commitment                   (33 bytes)
    leaf       = SHA-256(0x00 || leaf data)           (RFC 9162 leaf hash of the leaf data)

Deleting the entry bytes (and so the salt) leaves the **tombstone**
``{"prev":"<hex>","redacted":"<hex commitment>","seq":<n>}``, whose leaf is the same
``SHA-256(0x00 || 0x02 || commitment)``: chain, root and every proof still verify. The salt keeps
a commitment from confirming a guess of a deleted entry's contents. Leaf data of version 1 is a
JSON object (its first byte is ``{``), of version 2 starts with 0x02: the two never coincide.

Which rule applies is read from the bytes: an entry holding the byte pattern ``"salt":"`` is
version 2 (the writer guarantees it once, at the top level; version 1 writers never wrote it), a
line matching the tombstone's exact form is a tombstone, anything else is version 1. Whichever
rule a forger picked, a changed leaf breaks the chain, so the choice cannot be abused.
"""

from __future__ import annotations

import re
from hashlib import sha256

from .hashing import leaf_hash

FORMAT_VERSION = 2
LEAF_V2 = b"\x02"
SALT_BYTES = 32
REDACTED_KIND = "ledger.redacted"

SALT_KEY = b'"salt":"'
REDACTED_KEY = b'"redacted":"'
_TOMBSTONE = re.compile(rb'\{"prev":"([0-9a-f]{64})","redacted":"([0-9a-f]{64})","seq":(0|[1-9][0-9]*)\}\Z')


def commitment(entry: bytes) -> bytes:
    """SHA-256 of a version 2 entry's bytes: what its leaf and its tombstone commit to."""
    return sha256(entry).digest()


def committed_leaf(digest: bytes) -> bytes:
    """The leaf of a version 2 entry (or its tombstone) from its commitment."""
    return leaf_hash(LEAF_V2 + digest)


def tombstone(seq: int, prev: str, digest: bytes) -> bytes:
    """The bytes a redacted entry leaves: canonical JSON, same seq, prev and leaf."""
    return b'{"prev":"%s","redacted":"%s","seq":%d}' % (prev.encode("ascii"), digest.hex().encode("ascii"), seq)


def tombstone_commitment(entry: bytes) -> bytes | None:
    """The commitment a tombstone carries, or None when `entry` is not one."""
    match = _TOMBSTONE.match(entry) if REDACTED_KEY in entry else None
    return bytes.fromhex(match.group(2).decode("ascii")) if match else None


def is_salted(entry: bytes) -> bool:
    """A version 2 entry (not a tombstone)."""
    return SALT_KEY in entry


def leaf_data(entry: bytes) -> bytes:
    """What the RFC 9162 leaf hashes for an entry as stored or exported: the bytes themselves
    (version 1), or 0x02 and the commitment (version 2 and its tombstone)."""
    if SALT_KEY in entry:
        return LEAF_V2 + commitment(entry)
    digest = tombstone_commitment(entry)
    return entry if digest is None else LEAF_V2 + digest


def entry_leaf_hash(entry: bytes) -> bytes:
    """The Merkle leaf of an entry as stored or exported: version 1, version 2 or a tombstone."""
    return leaf_hash(leaf_data(entry))
