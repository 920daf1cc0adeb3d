"""Exceptions raised by the audit ledger.

Every failure is an exception, never a ``False`` return value, so a caller
cannot forget to check a result.  Each exception carries a one-sentence,
human-readable explanation (``str(err)`` / ``err.explain()``) that can be
shown to an auditor as is.
"""

from __future__ import annotations


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
    """The entries hash to a different root than the one that was signed."""

    def __init__(self, size: int, expected: bytes, actual: bytes) -> None:
        self.size = size
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the first {size} entries hash to root {actual.hex()}, "
            f"but the checkpoint signed root {expected.hex()}"
        )


class CheckpointError(LedgerError):
    """A checkpoint or signed note is malformed."""


class SignatureError(CheckpointError):
    """A signed note is not validly signed by the expected key."""


class ConsistencyError(LedgerError):
    """Two checkpoints of the same log do not describe one append-only log."""


class ForkError(ConsistencyError):
    """The log shows different histories to different viewers (a split view)."""


class RollbackError(ConsistencyError):
    """The log is smaller than a size it was already seen to have."""


class StoreError(LedgerError):
    """The database ledger tables are missing data or asked for an impossible range."""
