"""What `consentry audit export` and `consentry audit verify` do.

Verification trusts nothing the server says: it recomputes the hash chain and the Merkle root
from the entries, checks the checkpoint's signature against the ledger key the auditor holds,
and checks that the log still extends the last checkpoint this auditor verified (kept in a
local state file), so a rollback or a fork is caught.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from rich.progress import Progress

from consentry.ledger.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from consentry.ledger.verify import read_jsonl, verify_log
from consentry.services.sdk.client import Client
from consentry.v1 import audit_pb2

CHECKPOINT_FILE = "checkpoint.note"
ENTRIES_FILE = "entries.jsonl"
PAGE = 1000
PROGRESS_FROM = 20_000  # show a progress bar on runs at least this long


def latest_checkpoint(client: Client) -> audit_pb2.Checkpoint:
    return client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest()).checkpoint


def stream_entries(client: Client, size: int) -> Iterator[bytes]:
    """Entries 0..size-1, paged, with a progress bar on long runs."""
    with Progress(disable=size < PROGRESS_FROM, transient=True) as progress:
        task = progress.add_task("reading entries", total=size)
        start = 0
        while start < size:
            page = client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=start, page_size=PAGE))
            if not page.entries:
                return
            for e in page.entries[: size - start]:
                yield e.entry
            progress.advance(task, len(page.entries))
            start = page.next_start


def export(client: Client, out: Path) -> int:
    """Writes the latest checkpoint and every entry it covers; returns the tree size."""
    checkpoint = latest_checkpoint(client)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ENTRIES_FILE, "wb") as fh:
        for entry in stream_entries(client, checkpoint.tree_size):
            fh.write(entry + b"\n")
    (out / CHECKPOINT_FILE).write_text(checkpoint.note)
    return checkpoint.tree_size


def verify_export(directory: Path, key: str, state: Path) -> Checkpoint:
    note = (directory / CHECKPOINT_FILE).read_text()
    return _verify(read_jsonl(directory / ENTRIES_FILE), note, key, state)


def verify_live(client: Client, key: str, state: Path) -> Checkpoint:
    checkpoint = latest_checkpoint(client)
    return _verify(stream_entries(client, checkpoint.tree_size), checkpoint.note, key, state)


def default_state_file(key: str) -> Path:
    home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return home / "consentry" / f"trusted-{hashlib.sha256(key.encode()).hexdigest()[:16]}.note"


def _verify(entries, note: str, key: str, state: Path) -> Checkpoint:  # type: ignore[no-untyped-def]
    verifier = NoteVerifier.from_key(key)
    trusted = verify_checkpoint(state.read_text(), verifier) if state.exists() else None
    checkpoint = verify_log(entries, note, verifier, trusted=trusted)
    _remember(state, note)
    return checkpoint


def _remember(state: Path, note: str) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(note)
    os.replace(tmp, state)
