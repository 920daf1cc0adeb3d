"""One verifier, two entry points: `consentry audit verify DIR` and `python -m consentry.ledger.verify DIR`
give the same exit code and the same lines for the same export, with no warning, and name the bad
entry: one cut short by a truncated export, an edited last entry (which only the signed root commits
to), an edited middle one; another install's key is told as a key mismatch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from cli_helpers import ok, run

from consentry.ledger import NoteSigner, NoteVerifier


@pytest.fixture(scope="module")
def export(harness, tmp_path_factory):
    """An export of a server that told the demo story (its ledger key, the directory)."""
    d = tmp_path_factory.mktemp("verifier")
    data = ["--target", harness.target, "--data-dir", str(harness.settings.data_dir)]
    ok(run("demo", *data))
    ok(run("audit", "export", *data, "--out", str(d / "export"), "--state", str(d / "exported.note")))
    return harness.app.ledger_verifier_key, d / "export"


def both(*args: str) -> tuple[int, str, str]:
    """Runs both entry points; asserts they agree and that a failure is one line; their result."""
    cli = run("audit", "verify", *args)
    offline = subprocess.run([sys.executable, "-m", "consentry.ledger.verify", *args], capture_output=True,
                             text=True, timeout=120, env=dict(os.environ))
    assert (offline.returncode, offline.stdout, offline.stderr) == (cli.returncode, cli.stdout, cli.stderr)
    assert "Warning" not in offline.stderr and "Traceback" not in offline.stderr
    if cli.returncode:
        assert cli.stdout == "" and cli.stderr.count("\n") == 1, cli.stderr
    return cli.returncode, cli.stdout, cli.stderr


def tampered(export, tmp_path, change) -> str:
    """A copy of the export whose entry lines `change` rewrote in place."""
    copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(export, copy)
    lines = (copy / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (copy / "entries.jsonl").write_bytes(b"".join(change(lines)))
    return str(copy)


def state(tmp_path) -> list[str]:
    return ["--state", str(tmp_path / f"state-{len(list(tmp_path.iterdir()))}.note")]


def test_an_intact_export_verifies_alike(export, tmp_path):
    key, directory = export
    key_file = tmp_path / "ledger.vkey"
    key_file.write_text(key + "\n")
    trusted = ["--state", str(tmp_path / "trusted.note")]
    code, out, err = both(str(directory), "--key", key, *trusted)
    assert code == 0 and err == "" and out.startswith("verified ") and str(tmp_path / "trusted.note") in out
    # The key may be given in a file; --strict parses every entry; the trusted checkpoint stays.
    assert both(str(directory), "--key", str(key_file), *trusted, "--strict")[0] == 0


def test_an_export_cut_inside_an_entry_names_that_entry(export, tmp_path):
    key, directory = export
    size = len((directory / "entries.jsonl").read_bytes().splitlines())
    middle = size // 2

    def cut_inside(seq):
        def change(lines):
            # Cut after the entry's seq and prev, so the fast check alone would pass it.
            line = lines[seq]
            return [*lines[:seq], line[: line.index(b'"seq":') + 12]]
        return change

    for seq in (middle, size - 1):
        code, _, err = both(tampered(directory, tmp_path, cut_inside(seq)), "--key", key, *state(tmp_path))
        assert code == 1 and err.startswith(f"FAILED: ledger entry {seq} is bad: it is cut short"), err


def test_an_edited_entry_is_named_the_last_one_too(export, tmp_path):
    key, directory = export
    size = len((directory / "entries.jsonl").read_bytes().splitlines())

    def edit(seq):
        def change(lines):
            lines[seq] = lines[seq].replace(b'"kind":"', b'"kind":"x', 1)
            return lines
        return change

    for seq in (size // 2, size - 1):
        code, _, err = both(tampered(directory, tmp_path, edit(seq)), "--key", key, *state(tmp_path))
        assert code == 1 and err.startswith(f"FAILED: ledger entry {seq} is bad: "), err
    last = both(tampered(directory, tmp_path, edit(size - 1)), "--key", key, *state(tmp_path))[2]
    assert "it is the last entry the checkpoint covers and was altered" in last
    assert f"entries 0..{size - 2} hash to the prev it records" in last


def test_another_installs_key_is_a_key_mismatch(export, tmp_path):
    key, directory = export
    # Every install names its key after the default origin: only the key id tells them apart.
    other = NoteSigner.generate(NoteVerifier.from_key(key).name).verifier
    code, _, err = both(str(directory), "--key", other.to_key(), *state(tmp_path))
    assert code == 1
    assert err.startswith(f"FAILED: the checkpoint is signed by a key other than the one given: note key id "
                          f"{NoteVerifier.from_key(key).key_id.hex()}, given key id {other.key_id.hex()}; "), err


def test_refusals_before_reading_anything_are_alike(export, tmp_path):
    key, _ = export
    code, _, err = both(str(tmp_path / "absent"), "--key", key, *state(tmp_path))
    assert code == 1 and err.startswith("FAILED: cannot read ") and "absent" in err
    code, _, err = both(str(tmp_path), "--key", key, "--min-witnesses", "1", *state(tmp_path))
    assert code == 2 and "--min-witnesses needs the witnesses' keys" in err
