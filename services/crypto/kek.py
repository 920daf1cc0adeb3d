"""Key-encryption keys (KEKs): wrap each record's data key, so rotating or shredding is cheap.

``KeyEncryptionKeyProvider`` is the seam for a KMS / Vault transit provider later: anything with
``key_id``, ``wrap`` and ``unwrap`` will do. The local implementation here wraps with
XChaCha20-Poly1305 under a 32-byte key held in a 0600 key file (see keyfiles.py).

Wrapped key, format version 1 (all lengths in bytes)::

    0x01 | len(key_id): u8 | key_id: ASCII | nonce: 24 | XChaCha20-Poly1305(data_key) + tag: 16

    AAD = b"consentry-kek-wrap-v1\\x00" | 0x01 | len(key_id) | key_id | context

Every wrapped key names the KEK that wrapped it, so after a rotation a provider that holds the new
(current) key and the old ones can unwrap anything, and ``rewrap`` moves a record to the current
KEK. Once no stored wrapped key names an old KEK (``wrapped_key_id``), that KEK can be retired.
The header (version, key id) is inside the AAD: relabelling a wrapped key fails authentication.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from .errors import DecryptionFailed, MalformedPackage, UnknownKek, UnsupportedVersion
from .keyfiles import load_secret

WRAP_VERSION = 1
SHIELDED_VERSION = b"\x02"  # the first byte of a wrapped key shielded by record_keys.py
_WRAP_DOMAIN = b"consentry-kek-wrap-v1\x00"
_NONCE = 24
_TAG = 16
DATA_KEY_BYTES = 32
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")  # printable, no separators that need escaping


@runtime_checkable
class KeyEncryptionKeyProvider(Protocol):
    """Wraps and unwraps 32-byte data keys; ``context`` is authenticated (bind it to the record)."""

    @property
    def key_id(self) -> str:
        """The KEK that ``wrap`` uses now."""
        ...

    def wrap(self, data_key: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


def kek_id_for(key: bytes) -> str:
    """Stable, non-secret id of a local KEK: 'local-' + 16 hex of a domain-separated SHA-256."""
    return "local-" + hashlib.sha256(b"consentry-kek-id-v1\x00" + key).digest()[:8].hex()


def wrapped_key_id(wrapped: bytes) -> str:
    """Which KEK wrapped this key (read from the header; authenticated only when unwrapped).

    A wrapped key shielded under its record's own key (record_keys.py) keeps the header's
    key id, so rotation and retirement still see which KEK lies beneath."""
    if wrapped[:1] == SHIELDED_VERSION:
        return header_key_id(wrapped)
    return _parse(wrapped)[0]


def header_key_id(wrapped: bytes) -> str:
    """The key id of a wrapped key's header (version | len | key id), whatever its version."""
    if len(wrapped) < 2 or len(wrapped) < 2 + wrapped[1]:
        raise MalformedPackage("wrapped key is truncated")
    try:
        kid = bytes(wrapped[2 : 2 + wrapped[1]]).decode("ascii")
    except UnicodeDecodeError:
        raise MalformedPackage("wrapped key id is not ASCII") from None
    _check_key_id(kid, error=MalformedPackage)
    return kid


class LocalKekProvider:
    """KEKs held in memory: one current key (used by ``wrap``) plus older keys for ``unwrap``."""

    def __init__(self, current: bytes, previous: Iterable[bytes] = (), *, key_id: str | None = None):
        _check_key(current)
        self.key_id = key_id or kek_id_for(current)
        _check_key_id(self.key_id)
        self._keys: dict[str, bytes] = {self.key_id: bytes(current)}
        for old in previous:
            _check_key(old)
            self._keys.setdefault(kek_id_for(old), bytes(old))

    @classmethod
    def from_mapping(cls, keys: Mapping[str, bytes], current_id: str) -> LocalKekProvider:
        """Explicit key ids (e.g. from configuration) instead of derived ones."""
        self = cls.__new__(cls)
        if current_id not in keys:
            raise UnknownKek(f"current KEK id {current_id!r} is not among the configured keys")
        for kid, key in keys.items():
            _check_key_id(kid)
            _check_key(key)
        self.key_id = current_id
        self._keys = {kid: bytes(key) for kid, key in keys.items()}
        return self

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError(f"a data key must be {DATA_KEY_BYTES} bytes, got {len(data_key)}")
        header = _header(self.key_id)
        nonce = nacl.utils.random(_NONCE)  # 192-bit random nonces: collisions are negligible
        ct = crypto_aead_xchacha20poly1305_ietf_encrypt(
            bytes(data_key), _aad(header, context), nonce, self._keys[self.key_id]
        )
        return header + nonce + ct

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        kid, header, nonce, ct = _parse(wrapped)
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKek(f"key id {kid!r}")
        try:
            data_key = crypto_aead_xchacha20poly1305_ietf_decrypt(ct, _aad(header, context), nonce, key)
        except nacl.exceptions.CryptoError:
            raise DecryptionFailed(f"unwrapping a data key under KEK {kid!r}") from None
        return data_key

    def __repr__(self) -> str:  # never print key bytes
        return f"{type(self).__name__}(key_id={self.key_id!r}, held={sorted(self._keys)!r})"


class FileKekProvider(LocalKekProvider):
    """The current KEK from a 0600 key file (kind ``secret``), plus retired-but-still-readable ones.

    Rotation: generate a new file, start the service with ``FileKekProvider(new, previous=[old])``,
    rewrap every record (``rewrap``), then drop ``old`` from ``previous`` and delete its file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        previous: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        super().__init__(load_secret(path), [load_secret(p) for p in previous])


def rewrap(
    wrapped: bytes,
    context: bytes,
    old: KeyEncryptionKeyProvider,
    new: KeyEncryptionKeyProvider,
) -> bytes:
    """Move a wrapped data key to ``new``'s current KEK (``new.wrap(old.unwrap(w))``)."""
    return new.wrap(old.unwrap(wrapped, context), context)


def needs_rewrap(wrapped: bytes, provider: KeyEncryptionKeyProvider) -> bool:
    return wrapped_key_id(wrapped) != provider.key_id


# --- layout -----------------------------------------------------------------------------------


def _header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    return bytes([WRAP_VERSION, len(kid)]) + kid


def _aad(header: bytes, context: bytes) -> bytes:
    # The context is last, so no length prefix is needed for the encoding to be unambiguous.
    return _WRAP_DOMAIN + header + bytes(context)


def _parse(wrapped: bytes) -> tuple[str, bytes, bytes, bytes]:
    wrapped = bytes(wrapped)
    if not wrapped:
        raise MalformedPackage("empty wrapped key")
    if wrapped[0] != WRAP_VERSION:
        raise UnsupportedVersion(f"wrapped key version {wrapped[0]}")
    if len(wrapped) < 2:
        raise MalformedPackage("wrapped key is truncated")
    end = 2 + wrapped[1]
    if len(wrapped) != end + _NONCE + DATA_KEY_BYTES + _TAG:
        raise MalformedPackage(f"wrapped key has length {len(wrapped)}")
    try:
        kid = wrapped[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise MalformedPackage("wrapped key id is not ASCII") from None
    _check_key_id(kid, error=MalformedPackage)
    return kid, wrapped[:end], wrapped[end : end + _NONCE], wrapped[end + _NONCE :]


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise ValueError("a KEK must be 32 bytes")
    if hmac.compare_digest(bytes(key), bytes(32)):
        raise ValueError("refusing an all-zero KEK")  # an unfilled buffer, not a key


def _check_key_id(kid: str, error: type[Exception] = ValueError) -> None:
    if not _KEY_ID_RE.fullmatch(kid):
        raise error(f"invalid KEK id {kid!r}")
