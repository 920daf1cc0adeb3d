"""A C2SP tlog-witness: cosigns a log's checkpoint only if it extends the last one it cosigned.

``Witness.add_checkpoint`` is the add-checkpoint call without the HTTP around
it; each refusal is a WitnessError whose ``status`` is the HTTP status the
specification (https://c2sp.org/tlog-witness) assigns, checked in its order:

=====  ===============================================================
404    the origin is not a log this witness is configured for
403    no valid signature by a log key trusted for the origin, or a
       line of such a key that does not verify
400    malformed request or checkpoint, or old size > checkpoint size
409    old size is not the size last cosigned (the answer carries it)
422    the proof does not take the last cosigned tree to this one: a
       fork (same size, other root; or a larger tree that does not
       extend it), an empty-tree root that is not SHA-256(""), or a
       proof from size 0 that is not empty
=====  ===============================================================

A rollback (a smaller checkpoint) is refused with 400 or 409: its old size
either exceeds its own size or is not the witness's size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from .checkpoint import Checkpoint, NoteSignature, NoteVerifier, parse_checkpoint, signed_by, split_note
from .cosignature import Cosigner
from .errors import (
    CheckpointError,
    ConsistencyProofError,
    InconsistentCheckpoint,
    LogSignatureError,
    OldSizeConflict,
    SignatureError,
    UnknownLogError,
    WitnessError,
)
from .hashing import EMPTY_ROOT
from .merkle import verify_consistency
from .witness_protocol import AddCheckpoint
from .witness_state import WitnessState


class Witness:
    """Cosigns checkpoints of the configured logs, keeping per origin the last one in ``state``."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Iterable[NoteVerifier]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state = state
        self.clock = clock
        # Checking the old size and storing the new checkpoint happen under one lock, or two
        # concurrent requests could each pass the check and the smaller one roll the state back.
        self._lock = threading.Lock()

    def add_checkpoint(self, body: bytes) -> str:
        """Handle an add-checkpoint request body; return the cosignature line(s) to answer with."""
        request = AddCheckpoint.parse(body)
        text, signatures, checkpoint = self._verified(request.note)
        if request.old_size > checkpoint.size:
            raise WitnessError(f"old size {request.old_size} is larger than the checkpoint's {checkpoint.size}")
        with self._lock:
            last = self.state.latest(checkpoint.origin) or Checkpoint(checkpoint.origin, 0, EMPTY_ROOT)
            if request.old_size != last.size:
                raise OldSizeConflict(last.size)
            _check_extends(last, checkpoint, list(request.proof))
            cosignature = self.cosigner.cosign(text, int(self.clock()))
            kept = "".join(sig.line() for sig in signatures)
            self.state.store(checkpoint.origin, f"{text}\n{kept}{cosignature.line()}")
        return cosignature.line()

    def cosigned(self, origin_hash: str) -> str | None:
        """The last cosigned checkpoint of the log whose origin hashes to ``origin_hash``."""
        return self.state.note_by_hash(origin_hash)

    def _verified(self, note: str) -> tuple[str, list[NoteSignature], Checkpoint]:
        """The note's text, the log signatures that verified, and its checkpoint."""
        try:
            text, signatures = split_note(note)
        except CheckpointError as exc:
            raise WitnessError(f"the checkpoint is not a signed note: {exc}") from None
        origin = text.split("\n", 1)[0]
        keys = self.logs.get(origin)
        if not keys:
            raise UnknownLogError(f"this witness does not know the log {origin!r}")
        try:
            signers = [key for key in keys if signed_by(text, signatures, key)]
        except SignatureError as exc:
            raise LogSignatureError(str(exc)) from None
        if not signers:
            raise LogSignatureError(f"the checkpoint carries no signature by a key of {origin!r}")
        try:
            checkpoint = parse_checkpoint(text)
        except CheckpointError as exc:
            raise WitnessError(f"the checkpoint body is malformed: {exc}") from None
        verified = [sig for sig in signatures if any(k.name == sig.name and k.key_id == sig.key_id for k in signers)]
        return text, verified, checkpoint


def _check_extends(last: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
    if new.size == 0 and new.root != EMPTY_ROOT:
        raise InconsistentCheckpoint('a checkpoint of size 0 must have the root SHA-256("")')
    if last.size == 0 and proof:
        raise InconsistentCheckpoint("a proof from size 0 must be empty")
    try:
        verify_consistency(last.size, new.size, last.root, new.root, proof)
    except ConsistencyProofError as exc:
        raise InconsistentCheckpoint(
            f"checkpoint {new.size} (root {new.root.hex()}) does not extend the cosigned checkpoint "
            f"{last.size} (root {last.root.hex()}): {exc}"
        ) from None
