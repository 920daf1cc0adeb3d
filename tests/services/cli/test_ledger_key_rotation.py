"""`consentry keys rotate ledger` next to a running `consentry serve --workers 2`: the rotation is
ledgered and signed by the old key, the server signs with both keys without a restart, an auditor
who pinned the old key follows to the new one, the old key is retired after the handover and can
be revoked; a rotation a crash interrupted is finished by the next run. Under key files and in a
PKCS#11 token, on both databases (docs/ledger.md, "Key rotation")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import softhsm
from backends import BACKENDS, database
from cli_helpers import CONSENTRY, ok, run

from consentry.ledger import NoteSigner, NoteVerifier, add_signatures, sign_checkpoint, split_note
from consentry.ledger.verification import read_jsonl, replay
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2

ORIGIN = "consentry.local/ledger"


@pytest.fixture(params=["files", "pkcs11"])
def provider(request) -> dict[str, str]:
    return softhsm.new_token() if request.param == "pkcs11" else {}


@pytest.fixture(params=BACKENDS)
def env(request, provider, tmp_path) -> Iterator[dict[str, str]]:
    with database(request.param, tmp_path) as url:
        yield {**os.environ, **provider, "CONSENTRY_DATABASE_URL": url, "XDG_STATE_HOME": str(tmp_path / "state")}


@contextmanager
def serving(data: Path, log: Path, env: dict[str, str]) -> Iterator[str]:
    """`consentry serve --workers 2`; yields its target once it says it serves."""
    with open(log, "w") as out:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init", "--listen", "127.0.0.1:0", "--workers", "2",
                                 "--data-dir", str(data)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        target = None
        while target is None and time.monotonic() < deadline and proc.poll() is None:
            for line in log.read_text().splitlines():
                if line.startswith("consentry serving plaintext on 127.0.0.1:"):
                    target = "127.0.0.1:" + line.split("127.0.0.1:")[1].split(" ")[0]
            time.sleep(0.1)
        assert target, log.read_text()
        yield target
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _grow(tmp_path: Path, name: str, target: str, data: Path, env: dict[str, str]) -> None:
    """A few ledger entries: an institution registered by the operator's CLI."""
    keys = ok(run("org", "key", "new", "--out", str(tmp_path / f"{name}.key"),
                  "--encryption-out", str(tmp_path / f"{name}.x25519"), env=env))
    identity, encryption = (line.split()[-1] for line in keys)
    ok(run("operator", "register-institution", "--id", name, "--name", name, "--kind", "hospital",
           "--identity-public-key", identity, "--encryption-public-key", encryption,
           "--target", target, "--data-dir", str(data), env=env))


def _signers(note: str) -> set[str]:
    return {f"{sig.name} {sig.key_id.hex()}" for sig in split_note(note)[1]}


def _id(vkey: str) -> str:
    return f"{ORIGIN} {NoteVerifier.from_key(vkey).key_id.hex()}"


def test_rotate_under_a_running_server_and_an_auditor_of_the_old_key_follows(tmp_path, env, provider):
    data = tmp_path / "data"
    dd = ["--data-dir", str(data)]
    ok(run("init", *dd, env=env))
    old = ok(run("audit", "key", *dd, env=env))[0]
    old_copy = (data / "ledger-signing.key").read_bytes() if not provider else None
    state = ["--state", str(tmp_path / "trusted.note")]
    with serving(data, tmp_path / "serve.log", env) as target:
        server = ["--target", target, *dd]
        _grow(tmp_path, "before-rotation", target, data, env)
        ok(run("audit", "export", "--out", str(tmp_path / "e1"), "--key", old, *state, *server, env=env))
        assert _signers((tmp_path / "e1" / "checkpoint.note").read_text()) == {_id(old)}

        rotated = ok(run("keys", "rotate", "ledger", *dd, env=env))
        new = ok(run("audit", "key", *dd, env=env))[0]
        assert new != old and rotated[1].endswith(old) and rotated[2].endswith(new)
        # The running server tells the new key at once (GetServiceKeys, as a client asks for it).
        ok(run("operator", "register-practitioner", "--institution", "before-rotation", "--practitioner", "dr-any",
               "--role", "physician", *server, env=env))
        institution = Caller("org:before-rotation", keyfiles.load_signing_key(tmp_path / "before-rotation.key"),
                             role="physician", practitioner="dr-any")
        with Client(target, institution) as client:
            told = client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_verifier_key
        assert told == new
        # The server was not restarted: the next checkpoints, cut by any worker, carry both signatures.
        for i in range(3):
            _grow(tmp_path, f"handover-{i}", target, data, env)
            out = tmp_path / f"h{i}"
            ok(run("audit", "export", "--out", str(out), "--key", old, *state, *server, env=env))
            assert _signers((out / "checkpoint.note").read_text()) == {_id(old), _id(new)}
        assert ok(run("audit", "verify", str(tmp_path / "h2"), "--key", old, *state, *dd, env=env))

        retired = ok(run("keys", "retire", "ledger", *dd, env=env))
        assert retired == [f"destroyed retired ledger key {old}"]
        _grow(tmp_path, "after-handover", target, data, env)
        after = run("audit", "export", "--out", str(tmp_path / "e2"), "--key", old, *state, *server, env=env)
        assert after.returncode == 0, after.stderr
        assert f"the ledger key was rotated (ledger.key_rotated): now {new}" in after.stderr
        note = (tmp_path / "e2" / "checkpoint.note").read_text()
        assert _signers(note) == {_id(new)}

        # An auditor who pinned the old key and never saw the handover verifies the export alone.
        fresh = ["--state", str(tmp_path / "fresh.note")]
        assert ok(run("audit", "verify", str(tmp_path / "e2"), "--key", old, *fresh, *dd, env=env))
        key_file = tmp_path / "old.vkey"
        key_file.write_text(old)
        offline = subprocess.run([sys.executable, "-m", "consentry.ledger.verify", str(tmp_path / "e2"),
                                  "--key", str(key_file), "--state", str(tmp_path / "offline.note")],
                                 capture_output=True, text=True)
        assert offline.returncode == 0 and offline.stdout.startswith("verified "), offline.stderr
        assert offline.stderr == f"the ledger key was rotated (ledger.key_rotated): now {new}\n"
        # The new key, pinned, verifies it directly.
        assert ok(run("audit", "verify", str(tmp_path / "e2"), "--key", new, *dd, env=env))

        # Compromise: the old key is revoked from a time; the ledger says so, signed by the new key.
        revoked = ok(run("keys", "revoke", "ledger", NoteVerifier.from_key(old).key_id.hex(),
                         "--from", "2020-01-01T00:00:00Z", *dd, env=env))
        assert revoked[0].endswith(f"(ledger.key_revoked) revokes {old} from 2020-01-01T00:00:00Z")
        refused = run("keys", "revoke", "ledger", NoteVerifier.from_key(new).key_id.hex(), "--from",
                      "2020-01-01T00:00:00Z", *dd, env=env)
        assert refused.returncode == 1 and "that is the current ledger key: rotate it first" in refused.stderr
        ok(run("audit", "export", "--out", str(tmp_path / "e3"), "--key", old, *state, *server, env=env))

    if old_copy is not None:
        # Whoever stole the old key signs the real log: an auditor of the old key refuses it.
        thief = NoteSigner(ORIGIN, _seed(old_copy))
        entries = list(read_jsonl(tmp_path / "e3" / "entries.jsonl"))
        forged = sign_checkpoint(thief, ORIGIN, len(entries), replay(entries).root)
        (tmp_path / "e3" / "checkpoint.note").write_text(forged)
        stolen = run("audit", "verify", str(tmp_path / "e3"), "--key", old, "--state", str(tmp_path / "t3.note"),
                     *dd, env=env)
        assert stolen.returncode == 1
        assert "revoked from 2020-01-01T00:00:00Z (a ledger.key_revoked entry)" in stolen.stderr
        # A forged handover: the thief's own key announced in the checkpoint is no key at all here.
        other = NoteSigner.generate(ORIGIN)
        (tmp_path / "e3" / "checkpoint.note").write_text(add_signatures(
            sign_checkpoint(other, ORIGIN, len(entries), replay(entries).root), []))
        unknown = run("audit", "verify", str(tmp_path / "e3"), "--key", old, "--state", str(tmp_path / "t4.note"),
                      *dd, env=env)
        assert unknown.returncode == 1, unknown.stderr
        mismatch = (f"signed by a key other than the one given: note key id {other.verifier.key_id.hex()}, given "
                    f"key id {NoteVerifier.from_key(old).key_id.hex()}; nor by the keys it was rotated to: {new}")
        assert mismatch in unknown.stderr


def _seed(key_file: bytes) -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"old-{os.getpid()}.key"
    path.write_bytes(key_file)
    path.chmod(0o600)
    try:
        return bytes(keyfiles.load_signing_key(path))
    finally:
        path.unlink()


def _keys(data: Path, env: dict[str, str], call: str) -> str:
    """Runs `call` on the data directory's key provider in a process of its own (a token made
    for this test is visible only to processes started after it)."""
    code = ("from consentry.services import config as cfg\n"
            "from consentry.services.config import Settings\n"
            "from consentry.services.crypto.key_provider import key_provider\n"
            "from pathlib import Path\n"
            f"keys = key_provider(Settings.load(Path({str(data)!r})))\n"
            f"out = {call}\n"
            "print(bytes(out.verify_key).hex() if hasattr(out, 'verify_key') else (out.new or b'').hex())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_rotation_a_crash_interrupted_is_finished_by_the_next_run(tmp_path, env):
    data = tmp_path / "data"
    dd = ["--data-dir", str(data)]
    ok(run("init", *dd, env=env))
    old = ok(run("audit", "key", *dd, env=env))[0]

    # Killed between staging and promotion: the next run promotes the key staged then.
    staged = _keys(data, env, "keys.stage_signer(cfg.LEDGER_SIGNING_KEY)")
    ok(run("keys", "rotate", "ledger", *dd, env=env))
    first = ok(run("audit", "key", *dd, env=env))[0]
    assert NoteVerifier.from_key(first).public_key.hex() == staged

    # Killed after the promotion, before the rotation entry: the next run writes the entry and
    # makes no new key.
    promoted = _keys(data, env, "(keys.stage_signer(cfg.LEDGER_SIGNING_KEY), "
                                "keys.promote_signer(cfg.LEDGER_SIGNING_KEY))[1]")
    early = run("keys", "retire", "ledger", *dd, env=env)
    assert early.returncode == 1 and "has no ledger.key_rotated entry yet" in early.stderr
    resumed = ok(run("keys", "rotate", "ledger", *dd, env=env))
    assert resumed[0] == "finished an interrupted rotation"
    second = ok(run("audit", "key", *dd, env=env))[0]
    assert NoteVerifier.from_key(second).public_key.hex() == promoted
    assert resumed[2].endswith(first) and resumed[3].endswith(second)

    # Both rotations are ledgered and signed by their old keys: an auditor of the first key follows
    # through both to the checkpoints of the last.
    with serving(data, tmp_path / "serve.log", env) as target:
        out = tmp_path / "export"
        ok(run("audit", "export", "--out", str(out), "--key", old, "--target", target, *dd, env=env))
    assert _id(second) in _signers((out / "checkpoint.note").read_text())
    ok(run("keys", "retire", "ledger", *dd, env=env))
    assert ok(run("audit", "verify", str(out), "--key", old, "--state", str(tmp_path / "s.note"), *dd, env=env))
