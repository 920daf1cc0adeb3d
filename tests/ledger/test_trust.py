"""Split-view detection: a client's last trusted checkpoint, and the proof each newer one needs."""

from __future__ import annotations

import pytest

from consentry.ledger import (
    CheckpointTrust,
    FileTrustStore,
    ForkError,
    MemoryTrustStore,
    NoteSigner,
    RollbackError,
    SignatureError,
    leaf_hash,
    sign_checkpoint,
)
from consentry.ledger.merkle import InMemoryTree, consistency_proof

ORIGIN = "log.example/ledger"


@pytest.fixture
def signer():
    return NoteSigner.generate(ORIGIN)


def tree(tag: bytes, size: int = 40) -> InMemoryTree:
    return InMemoryTree([leaf_hash(tag + b" %d" % i) for i in range(size)])


def note(signer: NoteSigner, t: InMemoryTree, size: int) -> str:
    return sign_checkpoint(signer, ORIGIN, size, t.root(size))


class Prover:
    """The log's answers to consistency-proof requests, recorded."""

    def __init__(self, t: InMemoryTree) -> None:
        self.tree, self.asked = t, []

    def __call__(self, old: int, new: int) -> list[bytes]:
        self.asked.append((old, new))
        return consistency_proof(old, new, self.tree)


def test_each_newer_checkpoint_is_proved_from_the_trusted_one(signer):
    log, trust = tree(b"log"), CheckpointTrust(signer.verifier)
    prover = Prover(log)
    for size in (5, 5, 9, 33):
        assert trust.advance(note(signer, log, size), prover).size == size
    assert prover.asked == [(5, 9), (9, 33)]  # the first is trusted on first use; equal sizes need none
    assert trust.trusted().size == 33


def test_a_fork_names_both_sizes_and_roots(signer):
    log, forked = tree(b"log"), tree(b"forked")
    trust = CheckpointTrust(signer.verifier, MemoryTrustStore(note(signer, log, 10)))
    with pytest.raises(ForkError) as larger:
        trust.advance(note(signer, forked, 20), Prover(forked))
    message = str(larger.value)
    assert "10 entries" in message and "20 entries" in message
    assert log.root(10).hex() in message and forked.root(20).hex() in message
    assert (larger.value.trusted.size, larger.value.seen.size) == (10, 20)
    with pytest.raises(ForkError) as same:
        trust.advance(note(signer, forked, 10), Prover(forked))
    assert log.root(10).hex() in str(same.value) and forked.root(10).hex() in str(same.value)
    assert trust.trusted().root == log.root(10)  # nothing of the fork was trusted


def test_a_rollback_names_both_and_asks_for_no_proof(signer):
    log = tree(b"log")
    trust = CheckpointTrust(signer.verifier, MemoryTrustStore(note(signer, log, 30)))
    prover = Prover(log)
    with pytest.raises(RollbackError) as rolled:
        trust.advance(note(signer, log, 12), prover)
    assert log.root(30).hex() in str(rolled.value) and log.root(12).hex() in str(rolled.value)
    assert "30 entries" in str(rolled.value) and "12 entries" in str(rolled.value)
    assert prover.asked == []


def test_the_file_store_survives_the_process_and_is_checked_again(tmp_path, signer):
    log, path = tree(b"log"), tmp_path / "state" / "trusted.note"
    CheckpointTrust(signer.verifier, FileTrustStore(path)).advance(note(signer, log, 8), Prover(log))
    assert path.read_text() == note(signer, log, 8)
    with pytest.raises(ForkError):  # a new client over the same file remembers
        CheckpointTrust(signer.verifier, FileTrustStore(path)).advance(note(signer, tree(b"x"), 8), Prover(log))
    path.write_text(note(NoteSigner.generate(ORIGIN), log, 8))  # a file swapped for one the log never signed
    with pytest.raises(SignatureError):
        CheckpointTrust(signer.verifier, FileTrustStore(path)).advance(note(signer, log, 9), Prover(log))
    assert [p.name for p in path.parent.iterdir()] == ["trusted.note"]  # no temporary file left behind


def test_a_smaller_checkpoint_checked_later_never_replaces_a_larger_trusted_one(signer):
    log = tree(b"log")
    trust = CheckpointTrust(signer.verifier)
    trust.advance(note(signer, log, 10), Prover(log))
    checked = trust.check(note(signer, log, 12), Prover(log))  # e.g. shown to another thread meanwhile
    trust.advance(note(signer, log, 20), Prover(log))
    trust.trust(note(signer, log, checked.size))
    assert trust.trusted().size == 20
