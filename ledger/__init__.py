"""Consentry audit ledger: canonical entries, hash chain, RFC 9162 Merkle tree,
C2SP signed checkpoints and an offline verifier.

A standalone library: it imports nothing from ``consentry.services`` or grpc,
and this package (everything but ``consentry.ledger.db``) not SQLAlchemy
either, so an auditor can verify an export without the server's
dependencies.  Database storage is ``consentry.ledger.db``.  The format and
this API are described in ``docs/ledger.md``.
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
from .verify import Replay, check_consistency, read_jsonl, replay, verify_log

__all__ = [
    "EMPTY_ROOT",
    "ZERO_HASH",
    "CanonicalizationError",
    "ChainError",
    "Checkpoint",
    "CheckpointError",
    "CheckpointPolicy",
    "ConsistencyError",
    "ConsistencyProofError",
    "EntryError",
    "ForkError",
    "InclusionProofError",
    "LedgerError",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "Replay",
    "RollbackError",
    "RootMismatchError",
    "SignatureError",
    "StoreError",
    "canonical_json",
    "chain_hash",
    "check_consistency",
    "leaf_hash",
    "node_hash",
    "open_note",
    "parse_checkpoint",
    "patient_pseudonym",
    "read_jsonl",
    "replay",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
]
