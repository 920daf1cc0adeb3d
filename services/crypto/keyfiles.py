"""Key files in the service's data directory: created 0600 and atomically, loaded only if private.

Format (version 1, one line of ASCII, so an operator can tell files apart with ``head -c 30``)::

    consentry-key-v1 <kind> <base64 of exactly 32 bytes>\\n

with ``<kind>`` one of ``ed25519`` (the RFC 8032 32-byte seed), ``x25519`` (the private scalar),
``secret`` (a symmetric key, e.g. a KEK or a pseudonym key) or ``sealed`` (such a secret sealed by
a PKCS#11 token's root KEK: 12-byte nonce, 32-byte AES-GCM ciphertext, 16-byte tag; see
pkcs11_token.py). The kind is checked on load so a symmetric key can never be used as a signing
seed by mistake.

Creation never overwrites: the bytes are written to a private temporary file, fsynced, then
``os.link``-ed to the final name (atomic, fails if the name exists), so a crash leaves either no
key or a complete key, never a half-written one. Loading refuses files that group or others may
read or write (like ssh does), symlinks, and anything that is not a regular file.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

import nacl.public
import nacl.signing
import nacl.utils

from .errors import KeyFileError

FORMAT_MAGIC = "consentry-key-v1"
KEY_BYTES = 32
SEALED_BYTES = 12 + KEY_BYTES + 16
KIND_BYTES = {"ed25519": KEY_BYTES, "x25519": KEY_BYTES, "secret": KEY_BYTES, "sealed": SEALED_BYTES}
KINDS = tuple(KIND_BYTES)
_MAX_FILE_BYTES = 256  # a v1 file is ~67 bytes; never slurp a huge file by mistake


# --- public API -------------------------------------------------------------------------------


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create the data directory with mode 0700 if missing; refuse one others can write to."""
    p = Path(path)
    p.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = p.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        # Others could swap our key files under us (rename/unlink needs only dir write access).
        raise KeyFileError(f"{p} is writable by group/others (mode {_mode(mode)}); chmod 700 it")
    return p


def generate_signing_key(path: str | os.PathLike[str]) -> nacl.signing.SigningKey:
    key = nacl.signing.SigningKey.generate()
    write_key_file(path, "ed25519", bytes(key))  # bytes(SigningKey) is the 32-byte seed
    return key


def load_signing_key(path: str | os.PathLike[str]) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(read_key_file(path, "ed25519"))


def generate_x25519_key(path: str | os.PathLike[str]) -> nacl.public.PrivateKey:
    key = nacl.public.PrivateKey.generate()
    write_key_file(path, "x25519", bytes(key))
    return key


def load_x25519_key(path: str | os.PathLike[str]) -> nacl.public.PrivateKey:
    return nacl.public.PrivateKey(read_key_file(path, "x25519"))


def generate_secret(path: str | os.PathLike[str]) -> bytes:
    secret = nacl.utils.random(KEY_BYTES)
    write_key_file(path, "secret", secret)
    return secret


def load_secret(path: str | os.PathLike[str]) -> bytes:
    return read_key_file(path, "secret")


# --- format -----------------------------------------------------------------------------------


def encode_key_file(kind: str, raw: bytes) -> bytes:
    _check_kind(kind)
    if len(raw) != KIND_BYTES[kind]:
        raise KeyFileError(f"a {kind} key must be {KIND_BYTES[kind]} bytes, got {len(raw)}")
    return f"{FORMAT_MAGIC} {kind} {base64.b64encode(raw).decode('ascii')}\n".encode("ascii")


def decode_key_file(data: bytes, kind: str, *, where: str = "key file") -> bytes:
    _check_kind(kind)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{where} is not ASCII text") from None
    # Exactly one line with exactly one trailing newline: no room for a second, ignored key.
    if not text.endswith("\n") or text.count("\n") != 1:
        raise KeyFileError(f"{where} must be exactly one line ending in a newline")
    parts = text[:-1].split(" ")
    if len(parts) != 3:
        raise KeyFileError(f"{where} must read '{FORMAT_MAGIC} <kind> <base64>'")
    magic, found_kind, b64 = parts
    if magic != FORMAT_MAGIC:
        # Deliberately not echoing the line: a wrong file could be a raw secret.
        raise KeyFileError(f"{where} does not start with '{FORMAT_MAGIC}' (unknown format/version)")
    if found_kind != kind:
        raise KeyFileError(f"{where} holds a {found_kind!r} key where a {kind!r} key is expected")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where} has invalid base64") from None
    if len(raw) != KIND_BYTES[kind]:
        raise KeyFileError(f"{where} holds {len(raw)} bytes, expected {KIND_BYTES[kind]}")
    return raw


# --- file I/O ---------------------------------------------------------------------------------


def write_key_file(path: str | os.PathLike[str], kind: str, raw: bytes) -> Path:
    """Atomically create ``path`` (mode 0600) holding ``raw``; never overwrite an existing file."""
    return create_private_file(path, encode_key_file(kind, raw))


def replace_key_file(path: str | os.PathLike[str], kind: str, raw: bytes) -> Path:
    """Atomically replaces the key file at `path` (a secret sealed again): readers see the old or
    the new file, never a mix; a crash leaves one of them."""
    final = Path(path)
    staged = final.with_name(f".{final.name}.replacing")
    staged.unlink(missing_ok=True)  # a crashed replacement's leftover
    write_key_file(staged, kind, raw)
    os.replace(staged, final)
    fsync_dir(final.parent)
    return final


def create_private_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically create ``path`` (mode 0600) holding ``data`` (a key in some other format, e.g. a
    witness's note key); never overwrite an existing file."""
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{nacl.utils.random(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as e:
        raise KeyFileError(f"cannot create {tmp}: {e.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask can only narrow 0600, but be explicit
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, final)  # atomic, and fails with EEXIST instead of replacing a key
        except FileExistsError:
            raise KeyFileError(f"{final} already exists; refusing to overwrite a key") from None
        except OSError as e:
            raise KeyFileError(f"cannot create {final}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(final.parent)
    return final


def read_key_file(path: str | os.PathLike[str], kind: str) -> bytes:
    """Read and parse a key file, refusing it unless only its owner can read or write it."""
    return decode_key_file(read_private_file(path), kind, where=str(path))


def read_private_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a small private file, refused unless it is a regular file only its owner can
    read or write (like ssh does), and not a symlink."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise KeyFileError(f"{p} does not exist") from None
    except OSError as e:
        raise KeyFileError(f"cannot open {p}: {e.strerror}") from None
    try:
        st = os.fstat(fd)  # fstat the open fd: no race between the check and the read
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{p} is not a regular file")
        if st.st_mode & 0o077:
            raise KeyFileError(
                f"{p} is accessible by group/others (mode {_mode(st.st_mode)}); run chmod 600 on it"
            )
        data = os.read(fd, _MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_FILE_BYTES:
        raise KeyFileError(f"{p} is too large to be a key file")
    return data


# --- helpers ----------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise KeyFileError(f"unknown key kind {kind!r}; expected one of {', '.join(KINDS)}")


def _mode(st_mode: int) -> str:
    return format(stat.S_IMODE(st_mode), "04o")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    # Makes the new directory entry durable; not every platform lets you open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
