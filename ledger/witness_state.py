"""A witness's memory: per log origin, the last checkpoint it cosigned.

One file per origin in the state directory, named by the origin's SHA-256
(lowercase hex, as in the monitoring URL) plus ``.note``, holding the
checkpoint as the witness cosigned it: the body, the log signatures it
verified and its own cosignature.  Files are replaced atomically and fsynced
before the witness answers, so a cosignature is never handed out for a state
that a crash could forget.  A lock file keeps a second witness process off
the same directory (two writers could each cosign a fork of the other's).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .checkpoint import Checkpoint, parse_checkpoint, split_note
from .errors import LedgerError
from .files import read_text, replace_file

_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def origin_hash(origin: str) -> str:
    """SHA-256 of the origin line (without its newline), lowercase hex."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class WitnessState:
    """The last cosigned checkpoint per origin, in ``directory`` (created 0700 if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        import fcntl  # POSIX only; imported here so the verifier still imports everywhere

        self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LedgerError(f"another witness is using the state directory {self.directory}") from None

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = -1

    def note(self, origin: str) -> str | None:
        """The last cosigned checkpoint note for ``origin``, if any."""
        return read_text(self._path(origin_hash(origin)))

    def note_by_hash(self, hex_hash: str) -> str | None:
        """The same, looked up by the origin's hash (the monitoring URL's path)."""
        if not _HEX_HASH.fullmatch(hex_hash):
            return None
        return read_text(self._path(hex_hash))

    def latest(self, origin: str) -> Checkpoint | None:
        """The last cosigned checkpoint for ``origin``, parsed."""
        note = self.note(origin)
        if note is None:
            return None
        checkpoint = parse_checkpoint(split_note(note)[0])
        if checkpoint.origin != origin:
            raise LedgerError(f"the state file for {origin!r} holds a checkpoint of {checkpoint.origin!r}")
        return checkpoint

    def store(self, origin: str, note: str) -> None:
        """Remember ``note`` as the last cosigned checkpoint for ``origin`` (durable on return)."""
        replace_file(self._path(origin_hash(origin)), note.encode("utf-8"))

    def _path(self, hex_hash: str) -> Path:
        return self.directory / f"{hex_hash}.note"
