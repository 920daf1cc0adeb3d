"""`consentry` with every private service key in a PKCS#11 token (SoftHSM): init puts no private
key in the data directory, the server and the demo run on the token's keys, the KEK rotates, and
a data directory is never silently switched to the other kind of keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import softhsm
from cli_helpers import CONSENTRY, run, serve

from consentry.services import config as cfg


def _key_files(data: Path) -> dict[str, bytes]:
    """Every file of the data directory that holds a key, by its name, with its kind and payload."""
    out = {}
    for path in data.rglob("*"):
        if path.is_file() and path.read_bytes().startswith(b"consentry-key-v1 "):
            out[str(path.relative_to(data))] = path.read_bytes().split(b" ")[1]
    return out


def test_init_serve_demo_and_rotate_with_every_private_key_in_the_token(tmp_path):
    env = os.environ | softhsm.new_token()
    data = tmp_path / "data"

    init = run("init", "--data-dir", str(data), env=env)
    assert init.returncode == 0, init.stderr
    assert f"consentry-operator in PKCS#11 token {env['CONSENTRY_PKCS11_TOKEN']!r}" in init.stdout
    # Only the two working secrets are files, and both are sealed by the token.
    assert _key_files(data) == {cfg.KEK_FILE: b"sealed", cfg.PSEUDONYM_KEY: b"sealed"}

    shown = run("keys", "show", "--data-dir", str(data), env=env)
    assert shown.returncode == 0, shown.stderr
    with open(tmp_path / "serve.log", "w") as log:
        proc, target = serve(data, log, env=env)
        try:
            # The demo pins the share and checkpoint keys it reads from the token, and checks every
            # package's signature, every inclusion proof and the checkpoint against them.
            demo = run("demo", "--target", target, "--data-dir", str(data), env=env, timeout=600)
            assert demo.returncode == 0, demo.stdout + demo.stderr
            rotate = run("keys", "rotate-kek", "--data-dir", str(data), env=env)
            assert rotate.returncode == 0, rotate.stdout + rotate.stderr
            assert "every live record now uses the current KEK" in rotate.stdout
            sealed_before = (data / cfg.PSEUDONYM_KEY).read_bytes()
            root = run("keys", "rotate", "root-kek", "--data-dir", str(data), env=env)
            assert root.returncode == 0, root.stdout + root.stderr
            assert "3 sealed file(s) sealed again" in root.stdout  # kek.key, the retired KEK, the pseudonym key
            assert (data / cfg.PSEUDONYM_KEY).read_bytes() != sealed_before
            again = run("demo", "--target", target, "--data-dir", str(data), env=env, timeout=600)
            assert again.returncode == 0, again.stdout + again.stderr
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    kinds = _key_files(data)
    assert set(kinds.values()) == {b"sealed"}  # the new and the retired KEK, sealed too
    assert len([name for name in kinds if name.startswith("kek")]) == 2
    assert not any(name.startswith("record-keys") for name in kinds)  # record keys are raw, not key files
    assert not (data / cfg.OPERATOR_KEY).exists() and not (data / cfg.SHARE_SIGNING_KEY).exists()


def test_a_data_directory_keeps_the_kind_of_keys_it_was_made_with(tmp_path):
    env = os.environ | softhsm.new_token()
    token_dir, file_dir = tmp_path / "token", tmp_path / "files"
    assert run("init", "--data-dir", str(token_dir), env=env).returncode == 0
    plain = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_PKCS11_")}
    assert run("init", "--data-dir", str(file_dir), env=plain).returncode == 0

    for command, data, with_env, says in (
            ("serve", token_dir, plain, "keeps its keys in a PKCS#11 token"),
            ("init", token_dir, plain, "keeps its keys in a PKCS#11 token"),
            ("serve", file_dir, env, "keeps its keys in files")):
        before = sorted(p.name for p in data.iterdir())
        result = run(command, "--data-dir", str(data), env=with_env)
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith(f"consentry {command}: ") and says in line
        assert sorted(p.name for p in data.iterdir()) == before  # nothing was made beside the keys

    wrong_pin = env | {"CONSENTRY_PKCS11_PIN": "not-the-pin"}
    result = run("serve", "--data-dir", str(token_dir), env=wrong_pin)
    assert result.returncode == 1
    label = env["CONSENTRY_PKCS11_TOKEN"]
    assert result.stderr.strip() == f"consentry serve: the PIN for PKCS#11 token {label!r} is wrong"


def test_the_pin_is_read_from_a_file_and_never_from_the_command_line(tmp_path):
    env = os.environ | softhsm.new_token()
    pin_file = tmp_path / "pin"
    pin_file.write_text(env.pop("CONSENTRY_PKCS11_PIN") + "\n")
    env["CONSENTRY_PKCS11_PIN_FILE"] = str(pin_file)
    assert run("init", "--data-dir", str(tmp_path / "data"), env=env).returncode == 0
    help_text = subprocess.run([*CONSENTRY, "serve", "--help"], capture_output=True, text=True,
                               env=env).stdout
    assert "pin" not in help_text.lower()


def test_the_demo_on_embedded_defaults_runs_on_the_token(tmp_path):
    env = os.environ | softhsm.new_token() | {"CONSENTRY_HOME": str(tmp_path / "home")}
    demo = run("demo", env=env, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "The story behaved as it must." in demo.stdout
