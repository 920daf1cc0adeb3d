"""The offline verifier over in-memory exports (JSON Lines), including the CLI."""

from __future__ import annotations

import pytest
from ledger_testlib import sample_entry
from pymerkle import InmemoryTree as PyMerkleTree

from consentry.ledger.canonical import canonical_json
from consentry.ledger.checkpoint import NoteSigner, sign_checkpoint
from consentry.ledger.errors import ChainError, LedgerError, RootMismatchError
from consentry.ledger.hashing import EMPTY_ROOT, ZERO_HASH, chain_hash, leaf_hash
from consentry.ledger.verification import replay, verify_log
from consentry.ledger.verify import main


def build(n, start_chain=ZERO_HASH):
    out, chain = [], start_chain
    for i in range(n):
        e = canonical_json({**sample_entry(i), "seq": i, "prev": chain.hex()})
        chain = chain_hash(chain, leaf_hash(e))
        out.append(e)
    return out, chain


def test_replay_matches_pymerkle_and_chain():
    entries, chain = build(257)
    tree = PyMerkleTree(algorithm="sha256")
    for e in entries:
        tree.append_entry(e)
    result = replay([e + b"\n" for e in entries], roots_at={0, 1, 100, 257})
    assert (result.size, result.root, result.chain_hash) == (257, tree.get_root(), chain)
    assert result.roots[100] == tree.get_root(100) and result.roots[0] == EMPTY_ROOT
    assert replay(entries, strict=True).root == result.root
    assert replay([]).root == EMPTY_ROOT


def test_nested_seq_prev_is_refused_in_strict_mode():
    """The writer never emits nested seq/prev; strict mode proves that of a log."""
    entries, _ = build(3)
    prev = replay(entries[:2]).chain_hash.hex()
    nested = canonical_json({"a": {"seq": 2, "prev": prev}, "kind": "x", "prev": prev, "seq": 2})
    replay([*entries[:2], nested])  # fast mode reads the last (top-level) occurrence
    with pytest.raises(ChainError) as info:
        replay([*entries[:2], nested], strict=True)
    assert info.value.seq == 2
    misleading = canonical_json({"kind": "x", "prev": prev, "seq": 2, "z": {"seq": 7}})
    with pytest.raises(ChainError) as info:
        replay([*entries[:2], misleading])
    assert info.value.seq == 2


def test_strict_mode_refuses_non_canonical_bytes():
    entries, _ = build(2)
    spaced = entries[1].replace(b'"kind":', b'"kind": ')
    replay([*entries[:1], spaced])  # fast mode: still a consistent chain of bytes
    with pytest.raises(ChainError) as info:
        replay([*entries[:1], spaced], strict=True)
    assert info.value.seq == 1


def test_garbage_and_first_entry_prev():
    entries, _ = build(2)
    with pytest.raises(ChainError) as info:
        replay([b"not json"])
    assert info.value.seq == 0
    bad_first = entries[0].replace(b'"prev":"0', b'"prev":"1')
    with pytest.raises(ChainError) as info:
        replay([bad_first, *entries[1:]])
    assert info.value.seq == 0
    assert "entry 0" in info.value.explain()


def test_cli(tmp_path, capsys):
    entries, _ = build(50)
    signer = NoteSigner.generate("cli.example/log")
    (tmp_path / "entries.jsonl").write_bytes(b"".join(e + b"\n" for e in entries))
    root = replay(entries).root
    (tmp_path / "checkpoint.note").write_text(sign_checkpoint(signer, "cli.example/log", 50, root))
    (tmp_path / "key").write_text(signer.verifier.to_key())
    args = [str(tmp_path), "--key", str(tmp_path / "key"), "--state", str(tmp_path / "trusted.note")]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("verified 50 entries of cli.example/log")
    (tmp_path / "entries.jsonl").write_bytes(b"".join(e + b"\n" for i, e in enumerate(entries) if i != 30))
    assert main([*args[:3], "--state", str(tmp_path / "fresh.note")]) == 1
    assert "ledger entry 30 is bad" in capsys.readouterr().err


def test_missing_tail_named():
    entries, _ = build(10)
    signer = NoteSigner.generate("x.example/log")
    note = sign_checkpoint(signer, "x.example/log", 10, replay(entries).root)
    with pytest.raises(ChainError) as info:
        verify_log(entries[:8], note, signer.verifier)
    assert info.value.seq == 8
    assert isinstance(info.value, LedgerError)


def test_an_export_cut_inside_an_entry_names_that_entry_not_the_next():
    entries, _ = build(10)
    signer = NoteSigner.generate("x.example/log")
    note = sign_checkpoint(signer, "x.example/log", 10, replay(entries).root)
    # Cut after seq (and prev, which sorts before it): the fast check's fields survived the cut.
    cut = entries[6][: entries[6].index(b'"seq":') + 9]
    for tail in ([cut], [cut + b"\n"]):
        with pytest.raises(ChainError) as info:
            verify_log([*entries[:6], *tail], note, signer.verifier)
        assert info.value.seq == 6 and "cut short" in info.value.reason
    # A line cut short with more after it is not valid JSON, at its own seq.
    with pytest.raises(ChainError) as info:
        verify_log([*entries[:6], cut, *entries[7:]], note, signer.verifier)
    assert info.value.seq == 6


def test_an_edited_last_entry_is_named_by_the_signed_root():
    entries, _ = build(10)
    signer = NoteSigner.generate("x.example/log")
    note = sign_checkpoint(signer, "x.example/log", 10, replay(entries).root)
    edited = entries[9].replace(b'"kind":"', b'"kind":"x', 1)
    with pytest.raises(RootMismatchError) as info:
        verify_log([*entries[:9], edited], note, signer.verifier)
    assert info.value.seq == 9 and info.value.explain().startswith("ledger entry 9 is bad: ")
    with pytest.raises(ChainError) as middle:
        verify_log([*entries[:4], entries[4].replace(b'"kind":"', b'"kind":"x', 1), *entries[5:]], note,
                   signer.verifier)
    assert middle.value.seq == 4

