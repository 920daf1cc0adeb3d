"""Consentry audit ledger: canonical entries, hash chain, RFC 9162 Merkle tree,
C2SP signed checkpoints, database storage and an offline verifier.

A standalone library: it imports nothing from ``consentry.services`` or grpc.
The format is specified in ``docs/ledger.md``.
"""

from .canonical import canonical_json
from .checkpoint import (
    Checkpoint,
    CheckpointPolicy,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from .errors import (
    CanonicalizationError,
    ChainError,
    CheckpointError,
    ConsistencyError,
    ConsistencyProofError,
    EntryError,
    ForkError,
    InclusionProofError,
    LedgerError,
    ProofError,
    RollbackError,
    RootMismatchError,
    SignatureError,
    StoreError,
)
from .hashing import EMPTY_ROOT, ZERO_HASH, chain_hash, leaf_hash, node_hash
from .merkle import verify_consistency, verify_inclusion
from .pseudonym import patient_pseudonym
from .store import (
    Appended,
    LedgerReader,
    LedgerWriter,
    configure_sqlite_writes,
    cut_checkpoint,
    metadata,
)
from .verify import check_consistency, replay, verify_log

__all__ = [name for name in dir() if not name.startswith("_")]
