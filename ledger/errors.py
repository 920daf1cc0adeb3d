"""Exceptions raised by the audit ledger.

Every failure is an exception, never a ``False`` return value, so a caller
cannot forget to check a result.  Each exception carries a one-sentence,
human-readable explanation (``str(err)`` / ``err.explain()``) that can be
shown to an auditor as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checkpoint import Checkpoint


class LedgerError(Exception):
    """Base class of every error raised by ``consentry.ledger``."""

    def explain(self) -> str:
        """One human sentence saying what is wrong."""
        return str(self)


class CanonicalizationError(LedgerError, ValueError):
    """A value cannot become an RFC 8785 ledger entry (floats, odd types...)."""


class EntryError(LedgerError, ValueError):
    """An entry handed to the writer breaks a ledger rule (e.g. sets ``seq``)."""


class ProofError(LedgerError):
    """An inclusion or consistency proof is malformed or does not verify."""


class InclusionProofError(ProofError):
    """An inclusion proof does not prove the leaf is in the tree."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not prove the new tree extends the old one."""


class ChainError(LedgerError):
    """The entries do not form one gap-free hash chain.

    ``seq`` is the first sequence number found to be bad (missing, out of
    order, altered, or not matching what its neighbour committed to).
    """

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        super().__init__(f"ledger entry {seq} is bad: {reason}")


class RootMismatchError(LedgerError):
    """The entries hash to a different root than the one that was signed.

    ``seq`` is the last entry the checkpoint covers (None for an empty log): every earlier
    entry hashes to the ``prev`` it records, so only the signed root commits to it, and it is
    the one found bad (altered, or the chain was rewritten up to it).
    """

    def __init__(self, size: int, expected: bytes, actual: bytes) -> None:
        self.size = size
        self.expected = expected
        self.actual = actual
        self.seq = size - 1 if size > 0 else None
        roots = f"the first {size} entries hash to root {actual.hex()}, but the checkpoint signed root {expected.hex()}"
        if self.seq is None:
            super().__init__(roots)
            return
        before = f"entries 0..{self.seq - 1} hash to the prev it records, " if self.seq else ""
        super().__init__(
            f"ledger entry {self.seq} is bad: it is the last entry the checkpoint covers and was altered "
            f"(or the chain rewritten up to it): {before}{roots}"
        )


class CheckpointError(LedgerError):
    """A checkpoint or signed note is malformed."""


class SignatureError(CheckpointError):
    """A signed note is not validly signed by the expected key."""


class QuorumError(SignatureError):
    """A checkpoint carries fewer valid witness cosignatures than the verifier requires.

    Wait for the log to collect more cosignatures (it submits every new
    checkpoint to its witnesses), or check the witness keys you configured.
    """


class ConsistencyError(LedgerError):
    """Two checkpoints of the same log do not describe one append-only log.

    ``trusted`` is the checkpoint the viewer trusted before and ``seen`` the
    one it was shown, when both are known; keep both as evidence.
    """

    def __init__(self, message: str, trusted: Checkpoint | None = None, seen: Checkpoint | None = None) -> None:
        self.trusted = trusted
        self.seen = seen
        super().__init__(message)


class ForkError(ConsistencyError):
    """The log shows different histories to different viewers (a split view)."""


class RollbackError(ConsistencyError):
    """The log is smaller than a size it was already seen to have."""


class WitnessError(LedgerError):
    """A witness refused a checkpoint; ``status`` is the HTTP status of the refusal (C2SP tlog-witness)."""

    status = 400


class UnknownLogError(WitnessError):
    """The witness is not configured for the checkpoint's origin (404)."""

    status = 404


class LogSignatureError(WitnessError):
    """No valid signature by a log key the witness trusts for the origin (403)."""

    status = 403


class OldSizeConflict(WitnessError):
    """The old size is not the size the witness last cosigned (409).

    ``size`` is the witness's size: send the consistency proof from there.
    """

    status = 409

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"the witness last cosigned size {size}")


class InconsistentCheckpoint(WitnessError):
    """The checkpoint does not extend what the witness cosigned before (422): a fork."""

    status = 422


class StoreError(LedgerError):
    """The database ledger tables are missing data or asked for an impossible range."""
