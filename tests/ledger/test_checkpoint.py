"""C2SP signed notes (known answer), checkpoints, and the checkpoint policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from published import VECTORS, signed_note_signer_key

from consentry.ledger.checkpoint import (
    CheckpointPolicy,
    NoteSigner,
    NoteVerifier,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)
from consentry.ledger.errors import CheckpointError, SignatureError
from consentry.ledger.hashing import EMPTY_ROOT

VEC = VECTORS / "signed-note"


def vec(name):
    if name == "signer-key.txt":
        return signed_note_signer_key()
    return (VEC / name).read_text(encoding="utf-8")


def test_known_answer_note_byte_for_byte():
    signer = NoteSigner.from_key(vec("signer-key.txt"))
    note = sign_note(vec("text.txt"), signer)
    assert note.encode("utf-8") == (VEC / "note.txt").read_bytes()
    verifier = NoteVerifier.from_key(vec("verifier-key.txt"))
    assert open_note(vec("note.txt"), verifier) == vec("text.txt")
    assert signer.verifier == verifier
    assert verifier.to_key() == vec("verifier-key.txt").strip()
    assert signer.to_key() == vec("signer-key.txt").strip()
    assert verifier.key_id.hex() == "c74f20a3"


def test_known_answer_note_rejects_every_change():
    verifier = NoteVerifier.from_key(vec("verifier-key.txt"))
    note = vec("note.txt")
    for i, c in enumerate(note):
        for replacement in {chr(ord(c) ^ 1), " ", "\n"} - {c}:
            with pytest.raises(CheckpointError):
                open_note(note[:i] + replacement + note[i + 1:], verifier)
        with pytest.raises(CheckpointError):
            open_note(note[:i] + note[i + 1:], verifier)  # deletion
    with pytest.raises(CheckpointError):
        open_note(note + "x", verifier)


def test_other_signatures_are_tolerated_but_ours_is_required():
    ours = NoteSigner.generate("log.example/a")
    witness = NoteSigner.generate("witness.example")
    note = sign_note("hello\n", ours)
    cosigned = note + sign_note("hello\n", witness).split("\n\n", 1)[1]
    assert open_note(cosigned, ours.verifier) == "hello\n"
    with pytest.raises(SignatureError):
        open_note(sign_note("hello\n", witness), ours.verifier)


def test_bad_keys_refused():
    v = vec("verifier-key.txt").strip()
    with pytest.raises(CheckpointError):
        NoteVerifier.from_key(v.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(CheckpointError):
        NoteVerifier.from_key("PeterNeumann+c74f20a3")
    with pytest.raises(CheckpointError):
        NoteSigner.from_key(vec("signer-key.txt").replace("PRIVATE", "PUBLIC"))


def test_checkpoint_round_trip_and_strict_parsing():
    signer = NoteSigner.generate("consentry.example/log")
    note = sign_checkpoint(signer, "consentry.example/log", 42, EMPTY_ROOT)
    assert note.startswith("consentry.example/log\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— ")
    cp = verify_checkpoint(note, signer.verifier, origin="consentry.example/log")
    assert (cp.origin, cp.size, cp.root) == ("consentry.example/log", 42, EMPTY_ROOT)
    body = format_checkpoint("o", 1, EMPTY_ROOT)
    for bad in [body + "ext\n", body.replace("\n1\n", "\n01\n"), body.replace("\n1\n", "\n-1\n"),
                body.replace("47DEQ", "47DE"), "\n1\n" + body.split("\n")[2] + "\n"]:
        with pytest.raises(CheckpointError):
            parse_checkpoint(bad)


def test_policy(now):
    policy = CheckpointPolicy(every_entries=100, every_seconds=60)
    assert policy.due(1, None, None, now)
    assert not policy.due(0, None, None, now)
    assert not policy.due(50, 50, now - timedelta(hours=5), now)  # unchanged size: never
    assert not policy.due(60, 50, now - timedelta(seconds=10), now)
    assert policy.due(60, 50, now - timedelta(seconds=61), now)
    assert policy.due(150, 50, now, now)
