"""The ledger verifier command, one for both its entry points (the arguments: ``verify.py``).

``python -m consentry.ledger.verify DIR --key KEY`` needs only this library (rfc8785, PyNaCl);
``consentry audit verify DIR --key KEY`` calls the same `run`, so both take the same arguments,
print the same lines and exit with the same codes (``consentry audit verify`` can also read a
running server instead of DIR, with ``--target``):

    DIR                  an export: checkpoint.note and entries.jsonl (``consentry audit export``)
    --key KEY            the ledger verifier key, or a file holding it
    --state FILE         the last checkpoint this auditor trusted, replaced by the one verified
                         [default: one file per key under $XDG_STATE_HOME or ~/.local/state/consentry/]
    --witness VKEY       a witness's cosignature verifier key (repeat)
    --min-witnesses N    how many of the --witness keys must have cosigned [default: all]
    --strict             also parse every entry: canonical JSON, one top-level seq and prev

Exit 0 and one line on stdout when verified; 1 and one line ``FAILED: <why>`` on stderr when not
(naming the first bad entry where an entry is bad); 2 on arguments that cannot be right.

The command line itself is parsed in ``verify.py``, which ``consentry.ledger`` never imports:
``python -m`` runs it as ``__main__``, and a copy imported before that would make runpy warn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .checkpoint import Checkpoint, NoteVerifier, parse_checkpoint, split_note
from .cosignature import CosignatureVerifier, require_cosignatures
from .errors import LedgerError
from .key_rotation import KeyHistory, KeyRotationError
from .trust import CheckpointTrust, FileTrustStore, default_state_file
from .verification import read_jsonl, verify_log

EXPORT_CHECKPOINT_FILE = "checkpoint.note"
EXPORT_ENTRIES_FILE = "entries.jsonl"
VERIFIED, FAILED, USAGE = 0, 1, 2  # exit codes, as `consentry` uses them

# The arguments' help, shared by both entry points.
VERIFY_HELP = {
    "source": "An export directory (checkpoint.note and entries.jsonl)",
    "--key": "The ledger verifier key (consentry audit key), or a file holding it",
    "--state": "Where the last trusted checkpoint is kept [default: per key, under $XDG_STATE_HOME or "
               "~/.local/state/consentry/]",
    "--witness": "A witness's verifier key (repeat); its cosignature counts towards --min-witnesses",
    "--min-witnesses": "How many of the --witness keys must have cosigned [default: all]",
    "--strict": "Also parse every entry: RFC 8785 canonical, one top-level seq and prev",
}

# What to verify: the checkpoint note, and the entries it covers in order.
VerifySource = Callable[[], tuple[str, Iterable[bytes]]]


class UsageError(ValueError):
    """Arguments that cannot be right whatever the entries hold (exit 2)."""


@dataclass(frozen=True)
class VerifyOptions:
    key: str
    state: Path | None = None
    witnesses: Sequence[str] = ()
    min_witnesses: int | None = None
    strict: bool = False


@dataclass(frozen=True)
class WitnessQuorum:
    """The witness keys whose cosignatures count, and how many of them a checkpoint needs."""

    witnesses: list[CosignatureVerifier]
    minimum: int


def witness_quorum(vkeys: Sequence[str], minimum: int | None) -> WitnessQuorum | None:
    if not vkeys:
        if minimum is not None:
            raise UsageError("--min-witnesses needs the witnesses' keys (--witness)")
        return None
    try:
        witnesses = list(dict.fromkeys(CosignatureVerifier.from_key(vkey) for vkey in vkeys))
    except LedgerError as exc:
        raise UsageError(f"--witness: {exc}") from exc
    minimum = len(witnesses) if minimum is None else minimum
    if not 1 <= minimum <= len(witnesses):
        raise UsageError(f"--min-witnesses must be between 1 and the {len(witnesses)} distinct --witness keys")
    return WitnessQuorum(witnesses, minimum)


def key_text(value: str) -> str:
    """The verifier key given, or read from the file the value names."""
    try:
        if Path(value).is_file():
            return Path(value).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):  # not a usable path: a key
        pass
    return value.strip()


def export_source(directory: Path) -> VerifySource:
    """An export directory: its checkpoint note, and its entries read as they are verified."""
    def read() -> tuple[str, Iterable[bytes]]:
        note = (directory / EXPORT_CHECKPOINT_FILE).read_text(encoding="utf-8")
        return note, read_jsonl(directory / EXPORT_ENTRIES_FILE)
    return read


def run_verify(options: VerifyOptions, source: VerifySource, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Verify what `source` reads as `options` say; print the outcome in one line; the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        quorum = witness_quorum(options.witnesses, options.min_witnesses)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return USAGE
    key = key_text(options.key)
    state = options.state or default_state_file(key)
    try:
        trust = CheckpointTrust(NoteVerifier.from_key(key), FileTrustStore(state))
        note, entries = source()
        checkpoint = verify_trusted(entries, note, trust, quorum, strict=options.strict, err=err)
    except LedgerError as exc:
        print(f"FAILED: {exc.explain()}", file=err)
        return FAILED
    except OSError as exc:
        print(f"FAILED: cannot read {exc.filename or 'the export'}: {exc.strerror or exc}", file=err)
        return FAILED
    cosigned = f", cosigned by {quorum.minimum} of the witnesses given" if quorum else ""
    print(f"verified {checkpoint.size} entries of {checkpoint.origin} (root {checkpoint.root.hex()}): chain, root, "
          f"signature{cosigned} and consistency with the last trusted checkpoint ({state})", file=out)
    return VERIFIED


def verify_trusted(entries: Iterable[bytes], note: str, trust: CheckpointTrust, quorum: WitnessQuorum | None,
                   *, strict: bool = False, err: TextIO | None = None) -> Checkpoint:
    """Chain and root from the entries, checked against the trusted checkpoint's root too (the
    entries prove consistency themselves); the signature by the pinned key or one the log rotated
    it to (docs/ledger.md, "Key rotation"), and the witness quorum; then trusts the checkpoint.

    The trusted checkpoint's own signature is checked once the entries told which keys count (a
    key revoked since still counts for it: the entries hash to its root, so it states the log
    that the current key signs). A rotation followed is told on `err`."""
    witnesses = quorum.witnesses if quorum is not None else []
    trusted_note = trust.store.load()
    trusted = unverified_checkpoint(trusted_note) if trusted_note is not None else None
    keys = KeyHistory(trust.verifier, trust.origin)
    checkpoint = verify_log(entries, note, trust.verifier, trusted=trusted, keys=keys, witnesses=witnesses,
                            strict=strict)
    if trusted_note is not None:
        try:
            keys.accept(trusted_note, revoked_ok=True)
        except LedgerError as exc:
            raise KeyRotationError(f"the checkpoint trusted before is not signed by the ledger key: {exc}") from exc
    if quorum is not None:
        require_cosignatures(note, keys.accept(note, witnesses), quorum.witnesses, quorum.minimum)
    if keys.current != trust.verifier:
        print(f"the ledger key was rotated (ledger.key_rotated): now {keys.current.to_key()}", file=err or sys.stderr)
    if trusted is None or checkpoint.size >= trusted.size:
        trust.store.save(note)
    return checkpoint


def unverified_checkpoint(note: str) -> Checkpoint:
    """The checkpoint a note states, its signatures not yet checked (verify_log checks them)."""
    return parse_checkpoint(split_note(note)[0])
