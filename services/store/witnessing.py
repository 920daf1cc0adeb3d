"""Getting the ledger's checkpoints cosigned by its witnesses (C2SP tlog-witness), never waiting on one.

A thread of its own submits the latest checkpoint to every configured witness that has not
cosigned it yet, with the consistency proof from the size that witness last cosigned (as
remembered, or as its 409 answer says), and adds each verified cosignature line to the stored
note, which GetCheckpoint then serves. A witness that is down or refuses delays nothing else:
the checkpoint is served with the signatures it has, and the next round (every few seconds, or
at once when a checkpoint is cut) tries again, so a witness that comes back catches up with the
latest checkpoint. Outages and refusals are logged when they start and end, not every round.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from consentry.ledger import (
    AddCheckpoint,
    CosignatureVerifier,
    LedgerError,
    NoteSignature,
    OldSizeConflict,
    WitnessError,
    submit_checkpoint,
    verify_cosignatures,
)
from consentry.ledger.db import LedgerReader, StoredCheckpoint, add_cosignatures
from consentry.services.store.db import Database

log = logging.getLogger("consentry.witnessing")

TIMEOUT_S = 10.0


@dataclass
class WitnessEndpoint:
    """One configured witness, and what this server knows of it."""

    url: str
    verifier: CosignatureVerifier
    cosigned_size: int = 0  # the size it last cosigned, as far as we know (its 409 corrects us)
    problem: str | None = None  # the last failure logged, so a lasting one is logged once

    @classmethod
    def parse(cls, url: str, vkey: str) -> WitnessEndpoint:
        return cls(url, CosignatureVerifier.from_key(vkey))


class Witnessing:
    """Submits new checkpoints to the witnesses on a background thread (``start``/``kick``/``stop``)."""

    def __init__(self, db: Database, witnesses: list[WitnessEndpoint], interval_s: float) -> None:
        self.db = db
        self.witnesses = witnesses
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="witnessing", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        """A checkpoint was cut: submit it now rather than at the next round."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(TIMEOUT_S + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception:  # the database may be down; the next round tries again
                log.exception("could not submit the latest checkpoint to the witnesses")
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def round(self) -> int:
        """Submits the latest checkpoint to each witness that lacks it; returns the cosignatures added."""
        with self.db.read() as s:
            latest = LedgerReader(s.connection()).latest_checkpoint()
        if latest is None:
            return 0
        added = 0
        for witness in self.witnesses:
            if self._stop.is_set():
                break
            if verify_cosignatures(latest.note, [witness.verifier]):
                witness.cosigned_size = max(witness.cosigned_size, latest.size)
                continue
            added += self._cosign(witness, latest)
        return added

    def _cosign(self, witness: WitnessEndpoint, checkpoint: StoredCheckpoint) -> int:
        try:
            line = self._submit(witness, checkpoint)
        except OSError as exc:
            _report(witness, f"witness {witness.url} is unreachable ({exc}); the ledger goes on and retries")
            return 0
        except LedgerError as exc:
            _report(witness, f"witness {witness.url} did not cosign checkpoint {checkpoint.size}: {exc}")
            return 0
        with self.db.write() as s:
            add_cosignatures(s.connection(), checkpoint.size, [line])
        witness.cosigned_size = checkpoint.size
        if witness.problem is not None:
            log.info("witness %s cosigns again (checkpoint %d)", witness.url, checkpoint.size)
            witness.problem = None
        return 1

    def _submit(self, witness: WitnessEndpoint, checkpoint: StoredCheckpoint) -> NoteSignature:
        """Submits with the proof from the size we believe; once more from the size a 409 names."""
        for _ in range(2):
            old = witness.cosigned_size
            if old > checkpoint.size:
                raise WitnessError(f"the witness has cosigned size {old}, past the latest checkpoint "
                                   f"{checkpoint.size}; a newer one will be submitted when cut")
            with self.db.read() as s:
                proof = LedgerReader(s.connection()).consistency_proof(old, checkpoint.size)
            try:
                return submit_checkpoint(witness.url, witness.verifier,
                                         AddCheckpoint(old, tuple(proof), checkpoint.note), timeout=TIMEOUT_S)
            except OldSizeConflict as conflict:
                witness.cosigned_size = conflict.size
        raise WitnessError("the witness's size changed between two submissions")


def _report(witness: WitnessEndpoint, problem: str) -> None:
    if problem != witness.problem:
        log.warning("%s", problem)
        witness.problem = problem
