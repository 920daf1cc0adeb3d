"""Record bodies at rest: one random 256-bit data key per record, wrapped by the service's KEK.

Sealed body, format version 2 (what every seal writes)::

    ciphertext = 0x02 | nonce: 24 | XChaCha20-Poly1305(body) + tag: 16
    AAD        = b"consentry-record-v2\\x00" | str(record_id) | str(patient_id) | str(holder)
                 | str(category) | count(labels): u16 | str(label) for each label | meta_version: u64
    str(x)     = len(UTF-8(x)): u16 | UTF-8(x)        (every integer big-endian)

    wrapped_key = kek.wrap(data_key, context = b"consentry-record-key-v1\\x00" | UTF-8(record_id))

`labels` are canonical: distinct and sorted by their UTF-8 bytes. `meta_version` is the row's
``records.meta_version``, which every legitimate change of these columns increments in the same
transaction as it re-seals the body (`reseal_record`). So a database writer who relabels a row,
gives it to another patient or holder, or puts back metadata from an older copy of the row,
leaves a body that no longer opens: the service refuses it, discloses nothing of it, rather
than act on metadata it did not write.

Format version 1 (records sealed before version 2; read, never written)::

    ciphertext = 0x01 | nonce: 24 | XChaCha20-Poly1305(body) + tag: 16
    AAD        = b"consentry-record-v1\\x00" | UTF-8(record_id)

binds the record id only: a version-1 row's category, labels, patient and holder are not
protected. Its ``meta_version`` is 0; the next rewrap (`consentry keys rotate kek`) or re-seal
upgrades it to version 2 (meta_version 1).

Both the body and its wrapped key are bound to the record id, so neither can be moved to another
record row. Deleting the wrapped key from the row alone would not shred anything: a backup, a
replica or a WAL segment made before still holds it, and the live KEK opens it. So the service's
KEK provider is a `record_keys.RecordKeyVault`, which shields each wrapped key under a key of the
record's own, kept in a file outside the database; erasing the record destroys that file
(`destroy_record_key`), after which no copy of the database decrypts the body, even with the KEK,
once no backup of the record keys holds it either (docs/erasure.md).
A note (an emergency justification) is sealed the same way under its own domains,
``consentry-note-v1`` and ``consentry-note-key-v1``, bound to the note's id, so a note can never
be opened as a record or a record as a note (notes and sealed texts stay version 1: their
context is all they belong to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from .errors import DecryptionFailed, MalformedPackage, UnsupportedVersion
from .kek import KeyEncryptionKeyProvider, rewrap, wrapped_key_id

RECORD_VERSION = 2
LEGACY_VERSION = 1
_BODY_DOMAIN_V2 = b"consentry-record-v2\x00"
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


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """What of a record the policy acts on, bound into its body's AAD (format version 2)."""

    patient_id: str
    holder: str
    category: str
    labels: tuple[str, ...]
    meta_version: int

    @classmethod
    def of(cls, row: Any) -> RecordMeta:
        """The metadata of a ``records`` row (anything with those attributes) as stored now."""
        return cls(row.patient_id, row.holder, row.category, tuple(row.labels or ()), row.meta_version or 0)

    def aad(self, record_id: str) -> bytes:
        labels = sorted(set(self.labels), key=lambda label: label.encode("utf-8"))
        if len(labels) > 0xFFFF or not 0 <= self.meta_version < 1 << 64:
            raise ValueError("record metadata out of range")
        parts = [_BODY_DOMAIN_V2, *(_str(x) for x in (record_id, self.patient_id, self.holder, self.category)),
                 len(labels).to_bytes(2, "big"), *(_str(label) for label in labels),
                 self.meta_version.to_bytes(8, "big")]
        return b"".join(parts)


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("record metadata field too long")
    return len(raw).to_bytes(2, "big") + raw


def seal_note(note_id: str, text: bytes, kek: KeyEncryptionKeyProvider) -> SealedRecord:
    """Seals a short note kept at rest beside a record (an emergency justification)."""
    return _seal(_NOTE_DOMAINS, note_id, text, kek)


def open_note(note_id: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider) -> bytes:
    return _open(_NOTE_DOMAINS, note_id, sealed, kek)


def seal_record(record_id: str, body: bytes, kek: KeyEncryptionKeyProvider, meta: RecordMeta) -> SealedRecord:
    """Seals a record's body (format version 2) bound to its id and to `meta`."""
    return _seal(_RECORD_DOMAINS, record_id, body, kek, meta.aad(record_id), RECORD_VERSION)


def open_record(record_id: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider, meta: RecordMeta) -> bytes:
    """Opens a body with the metadata the caller is about to act on; DecryptionFailed if the row's
    metadata is not what it was sealed with (a version-1 body binds the record id only)."""
    version = sealed.ciphertext[:1]
    aad = meta.aad(record_id) if version == bytes([RECORD_VERSION]) else _BODY_DOMAIN + _rid(record_id)
    return _open(_RECORD_DOMAINS, record_id, sealed, kek, aad)


def reseal_record(record_id: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider, old: RecordMeta,
                  new: RecordMeta) -> SealedRecord:
    """The body opened with the metadata it was sealed with and sealed again (version 2) under a
    fresh data key wrapped by the current KEK, bound to `new`: a legitimate change of the
    metadata, the upgrade of a version-1 body, or a compromise rotation (kek_rotation.py)."""
    return seal_record(record_id, open_record(record_id, sealed, kek, old), kek, new)


def seal_text_body(context: str, body: bytes, kek: KeyEncryptionKeyProvider) -> SealedRecord:
    """A short text bound to its context alone (sealed_text.py): version 1 of the record format."""
    return _seal(_RECORD_DOMAINS, context, body, kek, _BODY_DOMAIN + _rid(context), LEGACY_VERSION)


def open_text_body(context: str, sealed: SealedRecord, kek: KeyEncryptionKeyProvider) -> bytes:
    return _open(_RECORD_DOMAINS, context, sealed, kek, _BODY_DOMAIN + _rid(context), LEGACY_VERSION)


def _seal(domains: tuple[bytes, bytes], record_id: str, body: bytes, kek: KeyEncryptionKeyProvider,
          aad: bytes | None = None, version: int = LEGACY_VERSION) -> SealedRecord:
    body_domain, key_domain = domains
    rid = _rid(record_id)
    data_key = nacl.utils.random(32)  # fresh per record: shredding one never touches another
    nonce = nacl.utils.random(_NONCE)
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(body), aad or body_domain + rid, nonce, data_key)
    wrapped = kek.wrap(data_key, key_domain + rid)
    return SealedRecord(bytes([version]) + nonce + ct, wrapped, wrapped_key_id(wrapped))


def _open(domains: tuple[bytes, bytes], record_id: str, sealed: SealedRecord,
          kek: KeyEncryptionKeyProvider, aad: bytes | None = None, version: int | None = None) -> bytes:
    body_domain, key_domain = domains
    rid = _rid(record_id)
    ct = sealed.ciphertext
    if not ct:
        raise MalformedPackage("empty record ciphertext")
    allowed = (LEGACY_VERSION, RECORD_VERSION) if domains is _RECORD_DOMAINS and version is None else (LEGACY_VERSION,)
    if ct[0] not in allowed:
        raise UnsupportedVersion(f"record ciphertext version {ct[0]}")
    if len(ct) < 1 + _NONCE + _TAG:
        raise MalformedPackage("record ciphertext is truncated")
    if wrapped_key_id(sealed.wrapped_key) != sealed.kek_id:
        # The column and the wrapped key disagree: a storage bug or tampering; don't guess.
        raise MalformedPackage("kek_id does not match the KEK named in the wrapped key")
    data_key = kek.unwrap(sealed.wrapped_key, key_domain + rid)
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct[1 + _NONCE :], aad or body_domain + rid, ct[1 : 1 + _NONCE], data_key
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


def rewrap_note(note_id: str, sealed: SealedRecord, old: KeyEncryptionKeyProvider,
                new: KeyEncryptionKeyProvider) -> SealedRecord:
    """KEK rotation of a note: as `rewrap_record`, under the note's own key domain."""
    wrapped = rewrap(sealed.wrapped_key, _NOTE_DOMAINS[1] + _rid(note_id), old, new)
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
