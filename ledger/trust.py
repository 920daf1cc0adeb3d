"""Split-view detection for clients: every checkpoint shown must extend the last one trusted.

A log operator could show one auditor one history and another auditor another.
Each client therefore keeps the last checkpoint it trusted (its signed note)
and accepts a new one only with an RFC 9162 consistency proof from the trusted
size, asked of the log.  A smaller checkpoint is a RollbackError, another root
for the same size or a proof that fails a ForkError; both name the two sizes
and roots, and carry the two checkpoints as evidence.

The trusted note is kept by a TrustStore: in memory (for one process's
lifetime), or in a file replaced atomically, so the memory survives restarts.
One store holds one log's checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from .files import read_text, replace_file
from .verification import check_consistency

# (trusted size, new size) -> the log's consistency proof between them.
ConsistencyProofSource = Callable[[int, int], Sequence[bytes]]


class TrustStore(Protocol):
    """Where a client keeps the note of the last checkpoint it trusted."""

    def load(self) -> str | None: ...

    def save(self, note: str) -> None: ...


class MemoryTrustStore:
    """Trust kept for the life of the process."""

    def __init__(self, note: str | None = None) -> None:
        self._note = note

    def load(self) -> str | None:
        return self._note

    def save(self, note: str) -> None:
        self._note = note


class FileTrustStore:
    """Trust kept in a file (the signed note as text), replaced atomically and fsynced."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> str | None:
        return read_text(self.path)

    def save(self, note: str) -> None:
        replace_file(self.path, note.encode("utf-8"))


class CheckpointTrust:
    """The last trusted checkpoint of one log (signed by ``verifier``) and the check a new one must pass."""

    def __init__(self, verifier: NoteVerifier, store: TrustStore | None = None, origin: str | None = None) -> None:
        self.verifier = verifier
        self.store = store if store is not None else MemoryTrustStore()
        self.origin = origin
        self._lock = threading.Lock()

    def trusted(self) -> Checkpoint | None:
        """The trusted checkpoint, its signature checked again (a store is only a file)."""
        note = self.store.load()
        return None if note is None else verify_checkpoint(note, self.verifier, self.origin)

    def check(self, note: str, consistency_proof: ConsistencyProofSource) -> Checkpoint:
        """Verify ``note`` and that it extends the trusted checkpoint; trust nothing new yet."""
        checkpoint = verify_checkpoint(note, self.verifier, self.origin)
        trusted = self.trusted()
        if trusted is not None:
            # Every tree extends the empty one, and a larger trusted one is a rollback: no proof to ask.
            asked = 0 < trusted.size < checkpoint.size
            proof = consistency_proof(trusted.size, checkpoint.size) if asked else []
            check_consistency(trusted, checkpoint, list(proof))
        return checkpoint

    def trust(self, note: str) -> None:
        """Remember ``note`` (already checked) unless a larger checkpoint is trusted by now."""
        checkpoint = verify_checkpoint(note, self.verifier, self.origin)
        with self._lock:
            trusted = self.trusted()
            if trusted is None or checkpoint.size >= trusted.size:
                self.store.save(note)

    def advance(self, note: str, consistency_proof: ConsistencyProofSource) -> Checkpoint:
        """``check`` then ``trust``: the usual step for each checkpoint a client is shown."""
        checkpoint = self.check(note, consistency_proof)
        self.trust(note)
        return checkpoint


def default_state_file(key: str) -> Path:
    """Where a verifier keeps the checkpoint it trusts for a ledger key, one file per key:
    under ``$XDG_STATE_HOME`` (or ``~/.local/state``) ``/consentry/``."""
    home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return home / "consentry" / f"trusted-{hashlib.sha256(key.encode()).hexdigest()[:16]}.note"
