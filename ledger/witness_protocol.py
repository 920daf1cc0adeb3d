"""The C2SP tlog-witness add-checkpoint request and the 409 answer, as bytes on the wire.

Request body (https://c2sp.org/tlog-witness, "add-checkpoint")::

    old <size the witness last cosigned, decimal>\\n
    <base64 consistency proof hash>\\n      (zero to 63 lines, RFC 6962 §2.1.2 order)
    \\n
    <the checkpoint: a signed note, possibly with several signatures>

A 409 Conflict answer carries the witness's size: ``<decimal>\\n``, Content-Type
``text/x.tlog.size``.  A 200 answer is one or more note signature lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from .errors import WitnessError
from .hashing import HASH_SIZE

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the log believes the witness is at, the proof, the note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def to_bytes(self) -> bytes:
        if len(self.proof) > MAX_PROOF_LINES:
            raise WitnessError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
        lines = [f"old {self.old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in self.proof), "\n"]
        return ("".join(lines) + self.note).encode("utf-8")

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body; anything malformed is a WitnessError (400 Bad Request)."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WitnessError("the request is not UTF-8") from None
        head, blank, note = text.partition("\n\n")
        if not blank:
            raise WitnessError("the request has no empty line before the checkpoint")
        lines = head.split("\n")
        old = lines[0].removeprefix("old ")
        if old == lines[0] or not _DECIMAL.fullmatch(old):
            raise WitnessError("the request does not start with 'old <decimal size>'")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise WitnessError(f"the consistency proof has more than {MAX_PROOF_LINES} lines")
        return cls(int(old), tuple(_hash(line) for line in lines[1:]), note)


def _hash(line: str) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise WitnessError("a consistency proof line is not base64") from None
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != line:
        raise WitnessError(f"a consistency proof line is not a canonical base64 {HASH_SIZE}-byte hash")
    return raw


def format_size(size: int) -> bytes:
    """The body of a 409 Conflict answer."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The witness's size from a 409 answer's body."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        raise WitnessError("the witness's 409 answer is not a decimal size and a newline")
    return int(text[:-1])
