"""Record bodies at rest: one random 256-bit data key per record, wrapped by the service's KEK.

Sealed body, format version 1::

    ciphertext = 0x01 | nonce: 24 | XChaCha20-Poly1305(body) + tag: 16
    AAD        = b"consentry-record-v1\\x00" | UTF-8(record_id)

    wrapped_key = kek.wrap(data_key, context = b"consentry-record-key-v1\\x00" | UTF-8(record_id))

Both the body and its wrapped key are bound to the record id, so neither can be moved to another
record row. Deleting the wrapped key from the row alone would not shred anything: a backup, a
replica or a WAL segment made before still holds it, and the live KEK opens it. So the service's
KEK provider is a `record_keys.RecordKeyVault`, which shields each wrapped key under a key of the
record's own, kept in a file outside the database; erasing the record destroys that file
(`destroy_record_key`), after which no copy of the database decrypts the body, even with the KEK,
once no backup of the record keys holds it either (docs/erasure.md).
A note (an emergency justification) is sealed the same way under its own domains,
``consentry-note-v1`` and ``consentry-note-key-v1``, bound to the note's id, so a note can never
be opened as a record or a record as a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from .errors import DecryptionFailed, MalformedPackage, UnsupportedVersion
from .kek import KeyEncryptionKeyProvider, rewrap, wrapped_key_id

RECORD_VERSION = 1
_BODY_DOMAIN = b"consentry-record-v1\x00"
_KEY_DOMAIN = b"consentry-record-key-v1\x00"
_RECORD_DOMAINS = (_BODY_DOMAIN, _KEY_DOMAIN)
_NOTE_DOMAINS = (b"consentry-note-v1\x00", b"consentry-note-key-v1\x00")
_NONCE = 24
_TAG = 16


@dataclass(frozen=True, slots=True)
class SealedRecord:
    ciphertext: bytes
    wrapped_key: bytes
    kek_id: str  # duplicated from wrapped_key for indexing ("which rows still need a rewrap?")

    def __repr__(self) -> str:
        return f"SealedRecord(kek_id={self.kek_id!r}, ciphertext=<{len(self.ciphertext)} bytes>)"


def seal_note(note_id: str, text: bytes, kek: KeyEncryptionKeyProvider) -> SealedRecord:
    """Seals a short note kept at rest beside a record (an emergency justification)."""
    return _seal(_NOTE_DOMAINS, note_id, text, kek)


def open_note(note_id: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider) -> bytes:
    return _open(_NOTE_DOMAINS, note_id, sealed, kek)


def seal_record(record_id: str, body: bytes, kek: KeyEncryptionKeyProvider) -> SealedRecord:
    return _seal(_RECORD_DOMAINS, record_id, body, kek)


def open_record(record_id: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider) -> bytes:
    return _open(_RECORD_DOMAINS, record_id, sealed, kek)


def _seal(domains: tuple[bytes, bytes], record_id: str, body: bytes, kek: KeyEncryptionKeyProvider) -> SealedRecord:
    body_domain, key_domain = domains
    rid = _rid(record_id)
    data_key = nacl.utils.random(32)  # fresh per record: shredding one never touches another
    nonce = nacl.utils.random(_NONCE)
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(body), body_domain + rid, nonce, data_key)
    wrapped = kek.wrap(data_key, key_domain + rid)
    return SealedRecord(bytes([RECORD_VERSION]) + nonce + ct, wrapped, wrapped_key_id(wrapped))


def _open(domains: tuple[bytes, bytes], record_id: str, sealed: SealedRecord,
          kek: KeyEncryptionKeyProvider) -> bytes:
    body_domain, key_domain = domains
    rid = _rid(record_id)
    ct = sealed.ciphertext
    if not ct:
        raise MalformedPackage("empty record ciphertext")
    if ct[0] != RECORD_VERSION:
        raise UnsupportedVersion(f"record ciphertext version {ct[0]}")
    if len(ct) < 1 + _NONCE + _TAG:
        raise MalformedPackage("record ciphertext is truncated")
    if wrapped_key_id(sealed.wrapped_key) != sealed.kek_id:
        # The column and the wrapped key disagree: a storage bug or tampering; don't guess.
        raise MalformedPackage("kek_id does not match the KEK named in the wrapped key")
    data_key = kek.unwrap(sealed.wrapped_key, key_domain + rid)
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct[1 + _NONCE :], body_domain + rid, ct[1 : 1 + _NONCE], data_key
        )
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed(f"record {record_id!r}") from None


def rewrap_record(
    record_id: str,
    sealed: SealedRecord,
    old: KeyEncryptionKeyProvider,
    new: KeyEncryptionKeyProvider,
) -> SealedRecord:
    """KEK rotation: rewrap the data key only; the (large) ciphertext is unchanged."""
    wrapped = rewrap(sealed.wrapped_key, _KEY_DOMAIN + _rid(record_id), old, new)
    return SealedRecord(sealed.ciphertext, wrapped, wrapped_key_id(wrapped))


def key_context(record_id: str) -> bytes:
    """What the record's data key is wrapped under (and its record key named by)."""
    return _KEY_DOMAIN + _rid(record_id)


def destroy_record_key(record_id: str, kek: KeyEncryptionKeyProvider) -> bool:
    """Destroys the record's own key, if `kek` keeps one; True if one was destroyed."""
    destroy = getattr(kek, "destroy", None)
    return bool(destroy(key_context(record_id))) if destroy is not None else False


def _rid(record_id: str) -> bytes:
    if not isinstance(record_id, str) or not record_id:
        raise ValueError("record_id must be a non-empty string")
    return record_id.encode("utf-8")
