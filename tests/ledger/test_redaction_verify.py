"""The offline verifier on ledgers with tombstones (format version 2): a redaction that the
ledger accounts for verifies, beside entries of version 1; a forged tombstone never does."""

from __future__ import annotations

import json
import secrets

import pytest
from ledger_testlib import sample_entry

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import NoteSigner, sign_checkpoint
from consentry.ledger.entries import commitment, entry_leaf_hash, tombstone
from consentry.ledger.errors import ChainError, RootMismatchError
from consentry.ledger.hashing import ZERO_HASH, chain_hash, leaf_hash
from consentry.ledger.merkle import InMemoryTree
from consentry.ledger.verification import replay, verify_log
from consentry.ledger.verify import main

ORIGIN = "consentry.test/ledger"


def build(fields: list[dict], salted_from: int = 0) -> list[bytes]:
    """Entries as the writers make them: unsalted (version 1) before `salted_from`, salted after."""
    out, chain = [], ZERO_HASH
    for seq, entry in enumerate(fields):
        extra = {"salt": secrets.token_hex(32)} if seq >= salted_from else {}
        data = canonical_json({**entry, **extra, "seq": seq, "prev": chain.hex()})
        chain = chain_hash(chain, entry_leaf_hash(data))
        out.append(data)
    return out


def redacted(entries: list[bytes], seq: int) -> list[bytes]:
    out = list(entries)
    out[seq] = tombstone(seq, json.loads(entries[seq])["prev"], commitment(entries[seq]))
    return out


def signed(signer: NoteSigner, entries: list[bytes]) -> str:
    root = InMemoryTree([entry_leaf_hash(e) for e in entries]).root()
    return sign_checkpoint(signer, ORIGIN, len(entries), root)


def story(redaction_names: list[int] | None = (3,)) -> list[bytes]:
    """Two version 1 entries, then salted ones; entry 6 is the redaction of `redaction_names`."""
    fields = [sample_entry(i) for i in range(6)]
    if redaction_names is not None:
        fields.append({"kind": "ledger.redacted", "reason": "retention", "seqs": list(redaction_names)})
    fields += [sample_entry(i) for i in range(7, 9)]
    return build(fields, salted_from=2)


def test_a_ledger_with_an_accounted_tombstone_verifies_beside_version_1_entries(signer, tmp_path):
    entries = story()
    note = signed(signer, entries)  # signed before the redaction: the root does not change
    gone = redacted(entries, 3)
    assert verify_log(gone, note, signer.verifier, strict=True).size == len(entries)
    assert replay(gone).redacted == [3]
    assert leaf_hash(entries[0]) == entry_leaf_hash(entries[0])  # version 1: the leaf is over the bytes
    (tmp_path / "entries.jsonl").write_bytes(b"".join(e + b"\n" for e in gone))
    (tmp_path / "checkpoint.note").write_text(note)
    key = signer.verifier.to_key()
    assert main([str(tmp_path), "--key", key, "--state", str(tmp_path / "trusted.note"), "--strict"]) == 0


def test_a_tombstone_no_redaction_accounts_for_is_refused(signer):
    entries = story(redaction_names=None)
    with pytest.raises(ChainError) as err:
        verify_log(redacted(entries, 4), signed(signer, entries), signer.verifier)
    assert err.value.seq == 4 and "no later ledger.redacted entry" in err.value.reason


def test_a_redaction_cannot_account_for_a_later_entry(signer):
    entries = story(redaction_names=[3])
    with pytest.raises(ChainError) as err:  # entry 7 comes after the redaction that would name it
        verify_log(redacted(entries, 7), signed(signer, entries), signer.verifier)
    assert err.value.seq == 7


def test_a_redaction_naming_a_later_seq_is_refused(signer):
    entries = story(redaction_names=[8])
    with pytest.raises(ChainError) as err:
        verify_log(entries, signed(signer, entries), signer.verifier)
    assert err.value.seq == 6 and "earlier entries" in err.value.reason


def test_a_tombstone_with_another_commitment_is_refused(signer):
    entries = story()
    forged = list(entries)
    forged[3] = tombstone(3, json.loads(entries[3])["prev"], commitment(b"another entry"))
    with pytest.raises(ChainError) as err:
        verify_log(forged, signed(signer, entries), signer.verifier)
    assert err.value.seq == 3 and "altered" in err.value.reason


def test_a_forged_last_tombstone_breaks_the_signed_root(signer):
    entries = build([sample_entry(i) for i in range(3)] + [{"kind": "ledger.redacted", "seqs": [1]}])
    forged = list(entries)
    forged[1] = tombstone(1, json.loads(entries[1])["prev"], commitment(entries[1]))
    verify_log(forged, signed(signer, entries), signer.verifier)  # the honest one verifies
    forged[1] = tombstone(1, json.loads(entries[1])["prev"], commitment(entries[2]))
    with pytest.raises((ChainError, RootMismatchError)):
        verify_log(forged, signed(signer, entries), signer.verifier)


def test_a_version_1_entry_cannot_become_a_tombstone(signer):
    entries = story()
    stone = tombstone(1, json.loads(entries[1])["prev"], commitment(entries[1]))
    forged = [*entries[:1], stone, *entries[2:]]
    with pytest.raises(ChainError) as err:
        verify_log(forged, signed(signer, entries), signer.verifier)
    assert err.value.seq == 1


def test_a_changed_salt_is_a_changed_entry(signer):
    entries = story()
    salt = json.loads(entries[4])["salt"]
    forged = [*entries[:4], entries[4].replace(salt.encode(), secrets.token_hex(32).encode()), *entries[5:]]
    with pytest.raises(ChainError) as err:
        verify_log(forged, signed(signer, entries), signer.verifier)
    assert err.value.seq == 4
