"""Per-record key-wrapping keys kept outside the database, so that erasing a record destroys
what could decrypt it in every copy of the database: its files, its WAL, its backups.

A record's data key is wrapped by the KEK (kek.py), and that wrapped key is *shielded* under a
random 32-byte key of the record's own before it is stored. The record key lives in a file of its
own under ``record-keys/`` in the data directory, never in a database table; erasing the record
overwrites and deletes that file. A copy of the database made before the erasure (a WAL segment,
a replica, a dump) then holds only the shielded key, which nothing can open any more, even with
the KEK. Backups of ``record-keys/`` itself must expire (docs/erasure.md).

Shielded wrapped key (the ``records.wrapped_key`` column), format version 2::

    0x02 | len(key_id): u8 | key_id | nonce: 24 | XChaCha20-Poly1305(record key, inner[2 + len:]) + tag: 16
    AAD = b"consentry-record-shield-v1\\x00" | 0x02 | len(key_id) | key_id | context

where ``inner`` is the KEK's wrapped key (version 1, same key id) and ``context`` the record's
key context (at_rest.py), which also names the key file: hex SHA-256 of the context. The
header keeps the KEK's id in the clear, so rotation and retirement still count records per KEK.
Wrapped keys stored before this (version 1) are read as they are, and shielded at the next
rotation.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from .at_rest import key_context
from .errors import DecryptionFailed, MalformedPackage, RecordKeyGone
from .kek import SHIELDED_VERSION, WRAP_VERSION, KeyEncryptionKeyProvider, header_key_id
from .keyfiles import KeyFileError, create_private_file, ensure_private_dir, fsync_dir, read_private_file

DIRECTORY = "record-keys"
RECORD_KEY_BYTES = 32
_SHIELD_DOMAIN = b"consentry-record-shield-v1\x00"
_NONCE = 24


class RecordKeyVault:
    """A KEK provider that shields every wrapped key under its record's own key (a file)."""

    def __init__(self, kek: KeyEncryptionKeyProvider, directory: str | os.PathLike[str]) -> None:
        self.kek = kek
        self.directory = Path(directory)

    @property
    def key_id(self) -> str:
        return self.kek.key_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(getattr(self.kek, "key_ids", {self.kek.key_id}))

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        inner = self.kek.wrap(data_key, context)
        header = SHIELDED_VERSION + inner[1 : 2 + inner[1]]
        nonce = nacl.utils.random(_NONCE)
        sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(
            inner[2 + inner[1] :], _SHIELD_DOMAIN + header + context, nonce, self._key(context, create=True))
        return header + nonce + sealed

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return self.kek.unwrap(self.unshield(wrapped, context), context)

    def unshield(self, wrapped: bytes, context: bytes) -> bytes:
        """The KEK's wrapped key beneath the shield (a wrapped key stored before shielding as is)."""
        wrapped = bytes(wrapped)
        if wrapped[:1] != SHIELDED_VERSION:
            return wrapped
        header_key_id(wrapped)  # a malformed header is refused before any file is opened
        end = 2 + wrapped[1]
        header, nonce, sealed = wrapped[:end], wrapped[end : end + _NONCE], wrapped[end + _NONCE :]
        try:
            rest = crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed, _SHIELD_DOMAIN + header + context, nonce, self._key(context, create=False))
        except nacl.exceptions.CryptoError:
            raise DecryptionFailed("unshielding a wrapped data key") from None
        return bytes([WRAP_VERSION]) + header[1:] + rest

    def destroy(self, context: bytes) -> bool:
        """Overwrites and deletes the record's key; True if there was one."""
        path = self._path(context)
        try:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return False
        try:
            os.write(fd, bytes(RECORD_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        fsync_dir(self.directory)
        return True

    def _key(self, context: bytes, *, create: bool) -> bytes:
        path = self._path(context)
        if create and not path.exists():
            ensure_private_dir(self.directory)
            try:
                create_private_file(path, nacl.utils.random(RECORD_KEY_BYTES))
            except KeyFileError:
                if not path.exists():
                    raise
                # Made meanwhile by another writer of the same record (a rewrap): use that one.
        try:
            key = read_private_file(path)
        except KeyFileError:
            raise RecordKeyGone("the record's key is gone: the record was erased") from None
        if len(key) != RECORD_KEY_BYTES:
            raise MalformedPackage(f"{path.name} is not a record key")
        return key

    def _path(self, context: bytes) -> Path:
        return key_path(self.directory, context)

    def __repr__(self) -> str:
        return f"RecordKeyVault({self.kek!r}, {str(self.directory)!r})"


def key_path(directory: Path, context: bytes) -> Path:
    """The file holding the record key of the record with key context `context`."""
    return directory / hashlib.sha256(bytes(context)).hexdigest()


def needs_key(wrapped: bytes) -> bool:
    """Whether a stored wrapped key is shielded under a record key (one stored before is not)."""
    return bytes(wrapped)[:1] == SHIELDED_VERSION


def has_key(directory: Path, record_id: str) -> bool:
    """Whether `directory` holds the record's key."""
    return key_path(directory, key_context(record_id)).exists()

