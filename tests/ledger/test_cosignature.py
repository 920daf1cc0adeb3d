"""C2SP tlog-cosignature v1: the specification's example bytes, keys and key ids, signing and
verifying, the witness quorum, and adding cosignature lines to a note."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from consentry.ledger import (
    CheckpointError,
    CosignatureVerifier,
    Cosigner,
    NoteSigner,
    NoteVerifier,
    QuorumError,
    SignatureError,
    add_signatures,
    open_note,
    require_cosignatures,
    sign_checkpoint,
    split_note,
    verify_cosignatures,
)
from consentry.ledger.cosignature import cosignature_message

# c2sp.org/tlog-cosignature, "Format" (the cosigned checkpoint) and "Ed25519 signed message".
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LOG_LINE = ("— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gG"
                 "zGku9nTo+zyWE+xeMcTOAYQ8=\n")
SPEC_WITNESS_LINE = ("— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oy"
                     "in1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n")
SPEC_MESSAGE = ("cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
                "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
# c2sp.org/signed-note, "Verifier keys" / "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Z"
             "tg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

ORIGIN = "log.example/ledger"
ROOT = hashlib.sha256(b"a root").digest()


def test_the_signed_message_is_the_specifications_byte_for_byte():
    assert cosignature_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE.encode()


def test_the_specifications_witness_line_frames_a_key_id_a_timestamp_and_a_signature():
    text, (log_line, witness_line) = split_note(SPEC_BODY + "\n" + SPEC_LOG_LINE + SPEC_WITNESS_LINE)
    assert text == SPEC_BODY
    assert witness_line.name == "witness.example.com/w1" and witness_line.key_id.hex() == "8d66cf3f"
    assert len(witness_line.signature) == 8 + 64
    assert struct.unpack(">Q", witness_line.signature[:8]) == (1679315147,)  # the message example's time
    assert (log_line.line(), witness_line.line()) == (SPEC_LOG_LINE, SPEC_WITNESS_LINE)  # written back unchanged


def test_the_signed_note_specifications_example_verifies():
    assert open_note(SPEC_NOTE, NoteVerifier.from_key(SPEC_VKEY)) == "This is an example message.\n"


def test_key_ids_use_signature_type_0x04_and_the_vkey_carries_it():
    cosigner = Cosigner.generate("witness.example/w1")
    public = cosigner.verifier.public_key
    assert cosigner.verifier.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + public).digest()[:4]
    vkey = cosigner.verifier.to_key()
    name, key_id, blob = vkey.split("+", 2)
    assert (name, key_id) == ("witness.example/w1", cosigner.verifier.key_id.hex())
    assert base64.b64decode(blob) == b"\x04" + public
    assert CosignatureVerifier.from_key(vkey) == cosigner.verifier
    # The same key and name as a note key (0x01) is another key id, and each parser refuses the other type.
    as_note_key = NoteVerifier("witness.example/w1", public)
    assert as_note_key.key_id != cosigner.verifier.key_id
    with pytest.raises(CheckpointError, match="0x04"):
        CosignatureVerifier.from_key(as_note_key.to_key())
    with pytest.raises(CheckpointError, match="0x01"):
        NoteVerifier.from_key(vkey)
    with pytest.raises(CheckpointError, match="does not match"):
        CosignatureVerifier.from_key(vkey.replace(key_id, "00000000"))


def test_the_private_key_round_trips_and_hides_in_repr():
    cosigner = Cosigner.generate("witness.example/w1")
    skey = cosigner.to_key()
    assert skey.startswith(f"PRIVATE+KEY+witness.example/w1+{cosigner.verifier.key_id.hex()}+")
    assert Cosigner.from_key(skey) == cosigner
    assert "seed" not in repr(cosigner) and base64.b64encode(cosigner.seed).decode() not in repr(cosigner)
    with pytest.raises(CheckpointError):
        Cosigner.generate("two words")


def _note(log: NoteSigner, size: int = 7, root: bytes = ROOT) -> str:
    return sign_checkpoint(log, ORIGIN, size, root)


def _cosigned(note: str, *cosigners: Cosigner, timestamp: int = 1_700_000_000) -> str:
    text, _ = split_note(note)
    return add_signatures(note, [c.cosign(text, timestamp) for c in cosigners])


def test_a_cosignature_verifies_with_its_time_and_the_log_signature_still_does():
    log, witness = NoteSigner.generate(ORIGIN), Cosigner.generate("witness.example/w1")
    note = _cosigned(_note(log), witness, timestamp=1_700_000_123)
    [cosignature] = verify_cosignatures(note, [witness.verifier])
    assert (cosignature.name, cosignature.timestamp) == ("witness.example/w1", 1_700_000_123)
    assert open_note(note, log.verifier) == split_note(note)[0]


def test_a_cosignature_over_another_checkpoint_or_time_is_refused():
    log, witness = NoteSigner.generate(ORIGIN), Cosigner.generate("witness.example/w1")
    other = split_note(_note(log, 8))[0]
    moved = add_signatures(_note(log), [witness.cosign(other, 1_700_000_000)])
    with pytest.raises(SignatureError, match="does not match this checkpoint"):
        verify_cosignatures(moved, [witness.verifier])
    line = witness.cosign(split_note(_note(log))[0], 1_700_000_000)
    later = type(line)(line.name, line.key_id, struct.pack(">Q", 1_700_000_001) + line.signature[8:])
    with pytest.raises(SignatureError):
        verify_cosignatures(add_signatures(_note(log), [later]), [witness.verifier])


def test_a_cosignature_without_a_time_is_neither_made_nor_accepted():
    log, witness = NoteSigner.generate(ORIGIN), Cosigner.generate("witness.example/w1")
    text = split_note(_note(log))[0]
    with pytest.raises(CheckpointError):
        witness.cosign(text, 0)
    line = witness.cosign(text, 5)
    zero = type(line)(line.name, line.key_id, bytes(8) + line.signature[8:])
    with pytest.raises(SignatureError, match="timestamp 0"):
        verify_cosignatures(add_signatures(_note(log), [zero]), [witness.verifier])


def test_the_quorum_counts_distinct_known_witnesses_only():
    log = NoteSigner.generate(ORIGIN)
    w1, w2, stranger = (Cosigner.generate(f"witness.example/w{i}") for i in (1, 2, 3))
    keys = [w1.verifier, w2.verifier]
    both = _cosigned(_note(log), w1, w2)
    checkpoint, cosignatures = require_cosignatures(both, log.verifier, keys, 2)
    assert checkpoint.size == 7 and {c.name for c in cosignatures} == {"witness.example/w1", "witness.example/w2"}
    one_and_a_stranger = _cosigned(_note(log), w1, stranger)
    with pytest.raises(QuorumError, match=r"carries 1 valid cosignatures .* 2 are required"):
        require_cosignatures(one_and_a_stranger, log.verifier, keys, 2)
    require_cosignatures(one_and_a_stranger, log.verifier, keys, 1)
    # A witness's line twice is one cosignature; a key given twice is one witness.
    twice = both.replace(both.splitlines(keepends=True)[-2], both.splitlines(keepends=True)[-2] * 2)
    assert len(verify_cosignatures(twice, keys)) == 2
    with pytest.raises(ValueError, match="2 out of 1"):
        require_cosignatures(both, log.verifier, [w1.verifier, w1.verifier], 2)
    with pytest.raises(ValueError, match="0 out of 2"):
        require_cosignatures(both, log.verifier, keys, 0)  # a quorum of none accepts anything
    with pytest.raises(SignatureError):  # cosignatures never stand in for the log's own signature
        require_cosignatures(both, NoteSigner.generate(ORIGIN).verifier, keys, 1)


def test_adding_a_line_replaces_the_same_witnesss_older_one_in_place():
    log, w1, w2 = NoteSigner.generate(ORIGIN), Cosigner.generate("w.example/1"), Cosigner.generate("w.example/2")
    note = _cosigned(_cosigned(_note(log), w1, timestamp=100), w2, timestamp=100)
    renewed = _cosigned(note, w1, timestamp=200)
    lines = renewed.splitlines(keepends=True)
    assert lines[:5] == note.splitlines(keepends=True)[:5]  # body, blank line, log signature
    assert [line.split(" ")[1] for line in lines[5:]] == ["w.example/1", "w.example/2"]
    assert {c.timestamp for c in verify_cosignatures(renewed, [w1.verifier])} == {200}
    assert add_signatures(renewed, []) == renewed
