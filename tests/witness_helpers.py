"""Witnesses for the tests that need one (a unique module name, so it cannot clash with another
suite's): a real witness HTTP server in this process, the `consentry witness serve` process, a
history forked from a real server's ledger under its own key, and waiting for a cosignature."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from harness import Harness

from consentry.ledger import (
    CosignatureVerifier,
    Cosigner,
    NoteSigning,
    NoteVerifier,
    Witness,
    WitnessState,
    leaf_hash,
    sign_checkpoint,
    verify_cosignatures,
)
from consentry.ledger.db import LedgerReader, LedgerWriter
from consentry.ledger.merkle import InMemoryTree
from consentry.services import config as cfg
from consentry.services.cli import datadir
from consentry.services.cli.witness_http import WitnessHTTPServer
from consentry.services.crypto import keyfiles
from consentry.v1 import audit_pb2

CONSENTRY = [sys.executable, "-m", "consentry.services.cli.main"]


@contextmanager
def witness_server(state: Path, logs: dict[str, list[NoteVerifier]], cosigner: Cosigner | None = None,
                   port: int = 0) -> Iterator[tuple[str, Witness]]:
    """A witness serving real HTTP on a loopback port: yields (its URL, the witness)."""
    witness = Witness(cosigner or Cosigner.generate("witness.test/w1"), logs, WitnessState(state))
    server = WitnessHTTPServer(("127.0.0.1", port), witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", witness
    finally:
        server.shutdown()
        server.server_close()
        witness.state.close()


@contextmanager
def witness_process(key: Path, state: Path, logs: list[str], port: int, out: IO[str]) -> Iterator[str]:
    """`consentry witness serve` on ``port``; yields its URL once it answers."""
    proc = subprocess.Popen([*CONSENTRY, "witness", "serve", "--listen", f"127.0.0.1:{port}", "--key", str(key),
                             "--state", str(state), *(a for log in logs for a in ("--log", log))],
                            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 30, "the witness process never answered")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/" + "0" * 64 + "/checkpoint", timeout=2)  # noqa: S310 (loopback)
    except urllib.error.HTTPError:
        return True  # a 404: it is up
    except OSError:
        return False
    return True


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(what)


def latest_note(h: Harness, refresh: bool = False) -> str:
    return h.operator.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=refresh)).checkpoint.note


def cosigned_note(h: Harness, witness: CosignatureVerifier, min_size: int = 1, timeout: float = 30) -> str:
    """The latest checkpoint once it covers ``min_size`` entries and ``witness`` has cosigned it."""
    def ready() -> str | None:
        note = latest_note(h)
        size = int(note.split("\n")[1])
        return note if size >= min_size and verify_cosignatures(note, [witness]) else None
    return str(wait_for(ready, timeout, f"no cosigned checkpoint of {min_size} entries came"))


def ledger_signer(h: Harness) -> NoteSigning:
    """The server's own ledger key, as an insider holding it would use it."""
    return datadir.ledger_signer(h.settings)


def second_ledger(h: Harness, directory: Path, database_url: str, larger_by: int) -> Harness:
    """Another server holding ``h``'s ledger key, whose ledger has another history and ``larger_by``
    more entries: what a log operator showing two auditors two histories would run."""
    keyfiles.ensure_private_dir(directory)
    key = h.settings.key_path(cfg.LEDGER_SIGNING_KEY)
    keyfiles.create_private_file(directory / cfg.LEDGER_SIGNING_KEY, key.read_bytes())
    other = Harness.start(directory, database_url)
    with h.app.db.read() as s:
        target = LedgerReader(s.connection()).size() + larger_by
    with other.app.db.write() as s, LedgerWriter.lock(s.connection()) as writer:
        while writer.next_seq < target:
            writer.append({"kind": "test.filler", "n": writer.next_seq})
    return other


def forked_note(h: Harness, size: int) -> tuple[str, InMemoryTree]:
    """A checkpoint of ``size`` entries of another history, signed with the server's ledger key."""
    tree = InMemoryTree([leaf_hash(b"forked entry %d" % i) for i in range(size)])
    return sign_checkpoint(ledger_signer(h), h.settings.ledger_origin, size, tree.root()), tree
