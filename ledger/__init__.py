"""Consentry audit ledger: canonical entries, hash chain, RFC 9162 Merkle tree,
C2SP signed checkpoints, witness cosignatures, split-view checks and an offline verifier.

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
    DelegatedNoteSigner,
    NoteSignature,
    NoteSigner,
    NoteSigning,
    NoteVerifier,
    add_signatures,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    split_note,
    verify_checkpoint,
)
from .cosignature import (
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    require_cosignatures,
    verify_cosignatures,
)
from .entries import FORMAT_VERSION, REDACTED_KIND, entry_leaf_hash, is_salted, leaf_data, tombstone_commitment
from .errors import (
    CanonicalizationError,
    ChainError,
    CheckpointError,
    ConsistencyError,
    ConsistencyProofError,
    EntryError,
    ForkError,
    InclusionProofError,
    InconsistentCheckpoint,
    LedgerError,
    LogSignatureError,
    OldSizeConflict,
    ProofError,
    QuorumError,
    RollbackError,
    RootMismatchError,
    SignatureError,
    StoreError,
    UnknownLogError,
    WitnessError,
)
from .hashing import EMPTY_ROOT, ZERO_HASH, chain_hash, leaf_hash, node_hash
from .merkle import verify_consistency, verify_inclusion
from .pseudonym import patient_pseudonym
from .trust import CheckpointTrust, FileTrustStore, MemoryTrustStore, TrustStore
from .verify import Replay, check_consistency, read_jsonl, replay, verify_log
from .witness import Witness
from .witness_client import submit_checkpoint
from .witness_protocol import SIZE_CONTENT_TYPE, AddCheckpoint, format_size
from .witness_state import WitnessState, origin_hash

__all__ = [
    "EMPTY_ROOT",
    "FORMAT_VERSION",
    "REDACTED_KIND",
    "SIZE_CONTENT_TYPE",
    "ZERO_HASH",
    "AddCheckpoint",
    "CanonicalizationError",
    "ChainError",
    "Checkpoint",
    "CheckpointError",
    "CheckpointPolicy",
    "CheckpointTrust",
    "ConsistencyError",
    "ConsistencyProofError",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "DelegatedNoteSigner",
    "EntryError",
    "FileTrustStore",
    "ForkError",
    "InclusionProofError",
    "InconsistentCheckpoint",
    "LedgerError",
    "LogSignatureError",
    "MemoryTrustStore",
    "NoteSignature",
    "NoteSigner",
    "NoteSigning",
    "NoteVerifier",
    "OldSizeConflict",
    "ProofError",
    "QuorumError",
    "Replay",
    "RollbackError",
    "RootMismatchError",
    "SignatureError",
    "StoreError",
    "TrustStore",
    "UnknownLogError",
    "Witness",
    "WitnessError",
    "WitnessState",
    "add_signatures",
    "canonical_json",
    "chain_hash",
    "check_consistency",
    "entry_leaf_hash",
    "format_size",
    "is_salted",
    "leaf_data",
    "leaf_hash",
    "node_hash",
    "open_note",
    "origin_hash",
    "parse_checkpoint",
    "patient_pseudonym",
    "read_jsonl",
    "replay",
    "require_cosignatures",
    "sign_checkpoint",
    "sign_note",
    "split_note",
    "submit_checkpoint",
    "tombstone_commitment",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "verify_log",
]
