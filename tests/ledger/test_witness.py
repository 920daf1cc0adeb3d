"""The witness state machine (C2SP tlog-witness add-checkpoint), on real state files: what it
cosigns, each refusal with the status the specification gives it, and what it remembers."""

from __future__ import annotations

import threading

import pytest

from consentry.ledger import (
    EMPTY_ROOT,
    AddCheckpoint,
    Cosigner,
    InconsistentCheckpoint,
    LedgerError,
    LogSignatureError,
    NoteSigner,
    OldSizeConflict,
    UnknownLogError,
    Witness,
    WitnessError,
    WitnessState,
    add_signatures,
    leaf_hash,
    origin_hash,
    sign_checkpoint,
    split_note,
    verify_cosignatures,
)
from consentry.ledger.merkle import InMemoryTree, consistency_proof
from consentry.ledger.witness_protocol import format_size, parse_size

ORIGIN = "log.example/ledger"
NOW = 1_700_000_000

# c2sp.org/tlog-witness, "add-checkpoint": the example request body.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE"
    "+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnz"
    "v++qbSzm9Q=\n"
).encode()


class Log:
    """A log of numbered leaves, signing checkpoints with ``signer``."""

    def __init__(self, signer: NoteSigner, leaves: int = 40, tag: bytes = b"entry") -> None:
        self.signer = signer
        self.tree = InMemoryTree([leaf_hash(tag + b" %d" % i) for i in range(leaves)])

    def note(self, size: int) -> str:
        return sign_checkpoint(self.signer, ORIGIN, size, self.tree.root(size))

    def request(self, old: int, size: int) -> bytes:
        return AddCheckpoint(old, tuple(consistency_proof(old, size, self.tree)), self.note(size)).to_bytes()


@pytest.fixture
def log():
    return Log(NoteSigner.generate(ORIGIN))


@pytest.fixture
def witness(tmp_path, log):
    state = WitnessState(tmp_path / "state")
    yield Witness(Cosigner.generate("witness.example/w1"), {ORIGIN: [log.signer.verifier]}, state, lambda: NOW)
    state.close()


def test_the_specifications_request_parses_and_writes_back_byte_for_byte():
    request = AddCheckpoint.parse(SPEC_REQUEST)
    assert request.old_size == 20852014 and len(request.proof) == 4
    assert all(len(h) == 32 for h in request.proof)
    assert len(split_note(request.note)[1]) == 2  # the checkpoint may carry several signatures
    assert request.to_bytes() == SPEC_REQUEST
    assert parse_size(format_size(20852163)) == 20852163 and format_size(7) == b"7\n"


def test_a_consistent_sequence_is_cosigned_and_remembered(tmp_path, witness, log):
    for old, size in [(0, 3), (3, 7), (7, 7), (7, 8), (8, 16), (16, 40)]:
        line = witness.add_checkpoint(log.request(old, size))
        cosigned = add_signatures(log.note(size), split_note(log.note(size) + line)[1][1:])
        [cosignature] = verify_cosignatures(cosigned, [witness.cosigner.verifier])
        assert cosignature.timestamp == NOW
    stored = witness.cosigned(origin_hash(ORIGIN))
    assert stored == add_signatures(log.note(40), split_note(log.note(40) + line)[1][1:])
    witness.state.close()
    # A restarted witness over the same directory knows where it stopped.
    again = Witness(witness.cosigner, {ORIGIN: [log.signer.verifier]}, WitnessState(tmp_path / "state"))
    with pytest.raises(OldSizeConflict) as conflict:
        again.add_checkpoint(log.request(0, 40))
    assert conflict.value.size == 40 and conflict.value.status == 409
    again.state.close()


def test_the_old_size_must_be_the_last_cosigned_one(witness, log):
    with pytest.raises(OldSizeConflict) as never:
        witness.add_checkpoint(log.request(3, 7))
    assert never.value.size == 0  # never cosigned this log: its size is 0
    witness.add_checkpoint(log.request(0, 7))
    with pytest.raises(OldSizeConflict) as behind:
        witness.add_checkpoint(log.request(3, 9))
    assert behind.value.size == 7
    with pytest.raises(WitnessError) as past:
        witness.add_checkpoint(AddCheckpoint(9, (), log.note(8)).to_bytes())
    assert past.value.status == 400


@pytest.mark.parametrize("fork", ["same size, other root", "larger, not extending", "proof of another tree"])
def test_a_fork_is_422_and_changes_nothing(witness, log, fork):
    witness.add_checkpoint(log.request(0, 10))
    other = Log(log.signer, tag=b"forked")  # the same key signing another history
    request = {
        "same size, other root": AddCheckpoint(10, (), other.note(10)),
        "larger, not extending": AddCheckpoint(10, tuple(consistency_proof(10, 20, other.tree)), other.note(20)),
        "proof of another tree": AddCheckpoint(10, tuple(consistency_proof(10, 20, other.tree)), log.note(20)),
    }[fork]
    with pytest.raises(InconsistentCheckpoint) as refused:
        witness.add_checkpoint(request.to_bytes())
    assert refused.value.status == 422
    assert log.tree.root(10).hex() in str(refused.value)  # names the root it cosigned
    witness.add_checkpoint(log.request(10, 20))  # the genuine log carries on


def test_a_rollback_is_refused(witness, log):
    witness.add_checkpoint(log.request(0, 20))
    with pytest.raises(WitnessError) as claimed:
        witness.add_checkpoint(AddCheckpoint(20, (), log.note(12)).to_bytes())
    assert claimed.value.status == 400  # old size beyond the checkpoint
    with pytest.raises(OldSizeConflict) as own:
        witness.add_checkpoint(log.request(0, 12))
    assert own.value.size == 20


def test_empty_trees_and_proofs_from_zero(witness, log):
    empty_with_a_root = sign_checkpoint(log.signer, ORIGIN, 0, log.tree.root(1))
    with pytest.raises(InconsistentCheckpoint, match="size 0"):
        witness.add_checkpoint(AddCheckpoint(0, (), empty_with_a_root).to_bytes())
    with pytest.raises(InconsistentCheckpoint, match="from size 0"):
        witness.add_checkpoint(AddCheckpoint(0, (log.tree.root(1),), log.note(4)).to_bytes())
    witness.add_checkpoint(AddCheckpoint(0, (), sign_checkpoint(log.signer, ORIGIN, 0, EMPTY_ROOT)).to_bytes())


def test_an_unknown_log_is_404_and_a_bad_log_signature_403(witness, log):
    with pytest.raises(UnknownLogError) as unknown:
        witness.add_checkpoint(AddCheckpoint(0, (), sign_checkpoint(log.signer, "other.example/log", 3,
                                                                    log.tree.root(3))).to_bytes())
    assert unknown.value.status == 404
    impostor = Log(NoteSigner.generate(ORIGIN))
    with pytest.raises(LogSignatureError) as unsigned:
        witness.add_checkpoint(impostor.request(0, 3))
    assert unsigned.value.status == 403
    # Our key's name and key id on a signature over other text: the note is malformed, 403 as well.
    text = split_note(log.note(3))[0]
    forged = text + "\n" + split_note(log.note(4))[1][0].line()
    with pytest.raises(LogSignatureError):
        witness.add_checkpoint(AddCheckpoint(0, (), forged).to_bytes())
    # Signatures by unknown keys are ignored, and left out of what the witness keeps.
    both = add_signatures(log.note(3), split_note(impostor.note(3).replace(ORIGIN + " ", "someone.else "))[1])
    witness.add_checkpoint(AddCheckpoint(0, (), both).to_bytes())
    assert "someone.else" not in witness.cosigned(origin_hash(ORIGIN))


def test_a_rotated_log_key_is_accepted_beside_the_old_one(tmp_path, log):
    new_key = NoteSigner.generate(ORIGIN)
    state = WitnessState(tmp_path / "state")
    witness = Witness(Cosigner.generate("w.example/1"), {ORIGIN: [log.signer.verifier, new_key.verifier]}, state)
    witness.add_checkpoint(log.request(0, 5))
    rotated = Log(new_key)
    witness.add_checkpoint(rotated.request(5, 9))
    state.close()


@pytest.mark.parametrize("body", [
    b"old 0\nnot a blank line",                       # no empty line before the checkpoint
    b"old 01\n\n",                                    # leading zero
    b"new 0\n\n",
    b"old 0\n!!!!\n\n",                               # proof line not base64
    b"old 0\nAAAA\n\n",                               # not 32 bytes
    b"old 0\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n",  # 64 > 63 proof lines
    b"old 0\n\n\xff\xfe",
    b"old 0\n\nexample\n",                            # not a signed note
], ids=["no-blank", "leading-zero", "not-old", "proof-not-base64", "proof-short", "proof-too-long", "not-utf8",
        "not-a-note"])
def test_a_malformed_request_is_400(witness, body):
    with pytest.raises(WitnessError) as refused:
        witness.add_checkpoint(body)
    assert type(refused.value) is WitnessError and refused.value.status == 400


def test_extension_lines_are_refused(witness, log):
    note = sign_checkpoint(log.signer, ORIGIN, 3, log.tree.root(3))
    text = split_note(note)[0] + "extension\n"
    from consentry.ledger import sign_note

    with pytest.raises(WitnessError, match="malformed") as refused:
        witness.add_checkpoint(AddCheckpoint(0, (), sign_note(text, log.signer)).to_bytes())
    assert refused.value.status == 400


def test_concurrent_submissions_from_one_size_cosign_exactly_one(witness, log):
    witness.add_checkpoint(log.request(0, 4))
    results: dict[int, object] = {}

    def submit(size: int) -> None:
        try:
            results[size] = witness.add_checkpoint(log.request(4, size))
        except OldSizeConflict as conflict:
            results[size] = conflict.size

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(5, 37)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [size for size, result in results.items() if isinstance(result, str)]
    assert len(winners) == 1 and {r for r in results.values() if not isinstance(r, str)} == {winners[0]}
    assert witness.state.latest(ORIGIN).size == winners[0]


def test_one_state_directory_serves_one_witness(tmp_path, witness):
    with pytest.raises(LedgerError, match="another witness"):
        WitnessState(witness.state.directory)
    assert witness.cosigned("not-a-hash") is None and witness.cosigned("0" * 64) is None
