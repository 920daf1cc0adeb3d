"""The log's side of C2SP tlog-witness: submit a checkpoint, get back a verified cosignature.

Standard library HTTP only (``urllib``), so the ledger package stays free of
the server's dependencies.  A refusal is the WitnessError subclass of its
HTTP status (OldSizeConflict carries the witness's size: resubmit with the
proof from there); a witness that cannot be reached raises OSError.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from .checkpoint import NoteSignature, split_note
from .cosignature import CosignatureVerifier
from .errors import (
    CheckpointError,
    InconsistentCheckpoint,
    LogSignatureError,
    OldSizeConflict,
    UnknownLogError,
    WitnessError,
)
from .witness_protocol import SIZE_CONTENT_TYPE, AddCheckpoint, parse_size

MAX_ANSWER_BYTES = 64 * 1024  # a few signature lines; never read an unbounded answer
_REFUSALS: dict[int, type[WitnessError]] = {403: LogSignatureError, 404: UnknownLogError, 422: InconsistentCheckpoint}


def add_checkpoint_url(witness_url: str) -> str:
    """The add-checkpoint endpoint under a witness's submission prefix (http or https only)."""
    if urllib.parse.urlsplit(witness_url).scheme not in ("http", "https"):
        raise WitnessError(f"a witness URL is http:// or https://, not {witness_url!r}")
    return witness_url.rstrip("/") + "/add-checkpoint"


def submit_checkpoint(
    witness_url: str,
    witness: CosignatureVerifier,
    request: AddCheckpoint,
    *,
    timeout: float = 10.0,
) -> NoteSignature:
    """POST ``request`` to the witness; return its cosignature, verified over the checkpoint."""
    http = urllib.request.Request(  # noqa: S310 (the scheme is checked: http or https)
        add_checkpoint_url(witness_url), data=request.to_bytes(), method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 (checked above)
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as refusal:
        with refusal:
            raise _refusal(refusal) from None
    if len(body) > MAX_ANSWER_BYTES:
        raise WitnessError(f"the witness {witness.name} answered with more than {MAX_ANSWER_BYTES} bytes")
    return _cosignature(request.note, body, witness)


def _refusal(error: urllib.error.HTTPError) -> WitnessError:
    body = error.read(MAX_ANSWER_BYTES)
    if error.code == 409:
        if (error.headers.get("Content-Type") or "").split(";")[0].strip() != SIZE_CONTENT_TYPE:
            return WitnessError(f"a 409 answer must have Content-Type {SIZE_CONTENT_TYPE}")
        return OldSizeConflict(parse_size(body))
    reason = body.decode("utf-8", errors="replace").strip().split("\n", 1)[0][:200]
    refusal = _REFUSALS.get(error.code, WitnessError)(f"the witness refused the checkpoint ({error.code}): {reason}")
    refusal.status = error.code
    return refusal


def _cosignature(note: str, body: bytes, witness: CosignatureVerifier) -> NoteSignature:
    """The witness's line among those answered, checked over the checkpoint we sent."""
    try:
        text, _ = split_note(note)
        _, lines = split_note(text + "\n" + body.decode("utf-8"))
    except (CheckpointError, UnicodeDecodeError) as exc:
        raise WitnessError(f"the witness {witness.name} answered with something other than signature lines") from exc
    for line in lines:
        if witness.matches(line):
            witness.verify(text, line)  # raises SignatureError if it is not over our checkpoint
            return line
    raise WitnessError(f"the witness answered without a cosignature by {witness.name}")
