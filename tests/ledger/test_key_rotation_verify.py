"""A checkpoint key handed over in the ledger: a verifier that pinned the old key follows a
rotation the old key signed, refuses a forged one, and honours a revocation (docs/ledger.md,
"Key rotation")."""

from __future__ import annotations

import base64
import json

import pytest
from ledger_testlib import sample_entry

from consentry.ledger import (
    Cosigner,
    KeyHistory,
    KeyRotationError,
    NoteSigner,
    add_signatures,
    sign_checkpoint,
    split_note,
    verify_log,
)
from consentry.ledger.canonical import canonical_json
from consentry.ledger.hashing import ZERO_HASH, chain_hash, leaf_hash
from consentry.ledger.key_rotation import REVOKED_KIND, ROTATED_KIND, revocation_fields, rotation_fields
from consentry.ledger.verification import replay

ORIGIN = "consentry.test/ledger"


class Log:
    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.chain = ZERO_HASH

    def add(self, fields: dict) -> None:
        e = canonical_json({**fields, "seq": len(self.entries), "prev": self.chain.hex()})
        self.chain = chain_hash(self.chain, leaf_hash(e))
        self.entries.append(e)

    def note(self, *signers: NoteSigner) -> str:
        root = replay(self.entries).root
        note = sign_checkpoint(signers[0], ORIGIN, len(self.entries), root)
        for other in signers[1:]:
            note = add_signatures(note, split_note(sign_checkpoint(other, ORIGIN, len(self.entries), root))[1])
        return note


def rotated_log(old: NoteSigner, new: NoteSigner, *, forged_by: NoteSigner | None = None) -> Log:
    log = Log()
    for i in range(5):
        log.add(sample_entry(i))
    time = "2026-11-30T12:00:00.25Z"
    fields = rotation_fields(forged_by or old, new.verifier, ORIGIN, time)
    fields["old_key"] = old.verifier.to_key()
    log.add({"kind": ROTATED_KIND, "actor": "operator", **fields})
    for i in range(5, 8):
        log.add(sample_entry(i))
    return log


def test_a_verifier_pinned_to_the_old_key_follows_a_rotation_the_old_key_signed():
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    log = rotated_log(old, new)
    keys = KeyHistory(old.verifier)
    checkpoint = verify_log(log.entries, log.note(new), old.verifier, keys=keys)
    assert checkpoint.size == 9 and keys.current == new.verifier
    # The handover note carries both signatures; a verifier of either key takes it.
    both = log.note(new, old)
    assert len(split_note(both)[1]) == 2
    verify_log(log.entries, both, old.verifier)
    verify_log(log.entries, both, new.verifier)
    # Pinned to the new key: the new checkpoints verify directly.
    verify_log(log.entries, log.note(new), new.verifier)


def test_without_the_rotation_entry_the_new_key_is_refused():
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    log = Log()
    for i in range(4):
        log.add(sample_entry(i))
    with pytest.raises(KeyRotationError, match=r"no ledger\.key_rotated entry in the log hands over from it"):
        verify_log(log.entries, log.note(new), old.verifier)


def test_a_forged_rotation_is_refused_with_the_reason():
    old, new, mallory = (NoteSigner.generate(ORIGIN) for _ in range(3))
    log = rotated_log(old, new, forged_by=mallory)
    with pytest.raises(KeyRotationError, match=r"entry 5 announces a rotation to .* but its statement is not "
                                               r"signed by the old key .*: the new key is refused"):
        verify_log(log.entries, log.note(new), old.verifier)


def test_a_rotation_after_the_checkpoint_hands_nothing_over():
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    log = rotated_log(old, new)
    covered = Log()
    for e in log.entries[:5]:
        covered.add({k: v for k, v in json.loads(e).items() if k not in ("seq", "prev")})
    # A checkpoint of 5 entries signed by the new key: the rotation (entry 5) is not under it.
    with pytest.raises(KeyRotationError):
        verify_log(log.entries, covered.note(new), old.verifier, allow_unsigned_tail=True)


def test_a_statement_names_the_entry_time_and_origin():
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    fields = rotation_fields(old, new.verifier, ORIGIN, "2026-11-30T12:00:00Z")
    statement = (f"consentry/ledger-key-rotation/v1\n{ORIGIN}\n{old.verifier.to_key()}\n{new.verifier.to_key()}\n"
                 "2026-11-30T12:00:00Z\n").encode()
    assert old.verifier.verify(statement, base64.b64decode(fields["statement_signature"]))


def test_a_revoked_key_counts_only_with_a_witness_cosignature_from_before():
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    log = rotated_log(old, new)
    log.add({"kind": REVOKED_KIND, "actor": "operator",
             **revocation_fields(new, old.verifier, "2026-11-30T11:00:00Z", ORIGIN, "2026-11-30T13:00:00Z")})
    keys = KeyHistory(old.verifier)
    verify_log(log.entries, log.note(new, old), old.verifier, keys=keys)  # the new key signed it: fine
    assert keys.revoked == {old.verifier: "2026-11-30T11:00:00Z"}
    with pytest.raises(KeyRotationError, match="revoked from 2026-11-30T11:00:00Z"):
        verify_log(log.entries, log.note(old), old.verifier)
    # A witness that cosigned this checkpoint before the revocation vouches for it.
    witness = Cosigner.generate("witness.test")
    note = log.note(old)
    text = split_note(note)[0]
    early = add_signatures(note, [witness.cosign(text, 1796025600)])  # 2026-11-30T08:00Z: before
    verify_log(log.entries, early, old.verifier, witnesses=[witness.verifier])
    late = add_signatures(note, [witness.cosign(text, 1796040000)])  # 2026-11-30T12:00Z: after
    with pytest.raises(KeyRotationError):
        verify_log(log.entries, late, old.verifier, witnesses=[witness.verifier])
