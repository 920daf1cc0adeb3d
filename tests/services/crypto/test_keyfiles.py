"""Key files: created 0600 and without overwriting, loaded only when private and well-formed."""

from __future__ import annotations

import os
import stat

import nacl.public
import nacl.signing
import pytest

from consentry.services.crypto.errors import KeyFileError
from consentry.services.crypto.keyfiles import (
    encode_key_file,
    ensure_private_dir,
    generate_secret,
    generate_signing_key,
    generate_x25519_key,
    load_secret,
    load_signing_key,
    load_x25519_key,
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("gen", "load", "cls"), [
    (generate_signing_key, load_signing_key, nacl.signing.SigningKey),
    (generate_x25519_key, load_x25519_key, nacl.public.PrivateKey),
    (generate_secret, load_secret, bytes),
])
def test_generate_is_0600_and_roundtrips(tmp_path, gen, load, cls):
    path = tmp_path / "k.key"
    key = gen(path)
    assert _mode(path) == 0o600
    loaded = load(path)
    assert isinstance(loaded, cls) and bytes(loaded) == bytes(key)
    assert path.read_text().startswith("consentry-key-v1 ")
    assert not [p for p in tmp_path.iterdir() if p.name != "k.key"]  # no temp file left behind


def test_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        generate_secret(tmp_path / "s.key")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "s.key") == 0o600


def test_signing_key_file_holds_the_seed(tmp_path):
    key = generate_signing_key(tmp_path / "svc.key")
    text = (tmp_path / "svc.key").read_text()
    assert text.split(" ")[1] == "ed25519" and text.endswith("\n")
    assert load_signing_key(tmp_path / "svc.key").verify_key == key.verify_key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_loading_a_group_or_world_accessible_file_is_refused(tmp_path, mode):
    path = tmp_path / "svc.key"
    generate_signing_key(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_signing_key(path)


def test_0400_is_accepted(tmp_path):
    path = tmp_path / "s.key"
    secret = generate_secret(path)
    os.chmod(path, 0o400)
    assert load_secret(path) == secret


def test_never_overwrites(tmp_path):
    path = tmp_path / "s.key"
    first = generate_secret(path)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_secret(path)
    assert load_secret(path) == first


def test_kind_is_checked(tmp_path):
    generate_secret(tmp_path / "s.key")
    with pytest.raises(KeyFileError, match="'secret' key where a 'ed25519'"):
        load_signing_key(tmp_path / "s.key")


def test_symlinks_and_missing_files_are_refused(tmp_path):
    generate_secret(tmp_path / "real.key")
    os.symlink(tmp_path / "real.key", tmp_path / "link.key")
    with pytest.raises(KeyFileError):
        load_secret(tmp_path / "link.key")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_secret(tmp_path / "nope.key")


def _write(path, data: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.close(fd)


@pytest.mark.parametrize("data", [
    b"",
    b"consentry-key-v2 secret AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    b"consentry-key-v1 secret AAAA\n",                       # too short
    b"consentry-key-v1 secret !!!notbase64!!!\n",
    encode_key_file("secret", b"\x01" * 32).rstrip(b"\n"),  # no newline
    encode_key_file("secret", b"\x01" * 32) * 2,            # two keys
    b"\xff" * 40,
    b"x" * 1000,
])
def test_malformed_files_are_refused(tmp_path, data):
    path = tmp_path / "bad.key"
    _write(path, data)
    with pytest.raises(KeyFileError) as e:
        load_secret(path)
    assert "AAAA" not in str(e.value)  # never echo file contents


def test_private_dir(tmp_path):
    d = ensure_private_dir(tmp_path / "data")
    assert _mode(d) == 0o700
    os.chmod(d, 0o777)  # noqa: S103  (the permissive mode is what the check must refuse)
    with pytest.raises(KeyFileError):
        ensure_private_dir(d)
