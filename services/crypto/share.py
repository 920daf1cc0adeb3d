"""The share package (v1): one record, encrypted for one recipient, signed by the service.

docs/share-format.md is the normative description (byte layouts, verification order); keep the
two in step. In short::

    header     = RFC 8785 canonical JSON of exactly the keys in HEADER_KEYS, "v": 1
    ciphertext = nonce: 24 | XChaCha20-Poly1305(key=share_key, aad=header, body) + tag: 16
    sealed_key = crypto_box_seal(share_key, recipient X25519 public key)         (80 bytes)
    signature  = Ed25519(service key, b"consentry-share-v1\\x00"
                         | SHA-256(header) | SHA-256(ciphertext) | SHA-256(sealed_key))

The sealed key's hash is signed too, so *every* byte of the package is authenticated by the pinned
service key before the recipient touches its private key: a flipped bit anywhere is rejected as
``SignatureInvalid``, and an attacker cannot substitute a sealed key of their own (which would be
a key-substitution oracle against the recipient's unsealing).

``build_share`` is pure (no I/O, no clock): the caller allocates ``ledger_seq`` first and writes
``header_hash`` / ``ciphertext_hash`` into the same ledger entry, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils
import rfc8785
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from .errors import (
    DecryptionFailed,
    MalformedPackage,
    SignatureInvalid,
    UnsupportedVersion,
    WrongRecipient,
    WrongRecipientKey,
)

SHARE_VERSION = 1
SIGNATURE_DOMAIN = b"consentry-share-v1\x00"
KEY_ID_DOMAIN = b"consentry-x25519-v1"
HEADER_KEYS = frozenset(
    {
        "v",
        "share_id",
        "record_id",
        "recipient",
        "recipient_key_id",
        "purpose",
        "ledger_seq",
        "obligations",
        "time",
        "content_type",
    }
)
_STR_FIELDS = ("share_id", "record_id", "recipient", "recipient_key_id", "purpose", "time", "content_type")
_NONCE = 24
_TAG = 16
_SEALED_KEY_LEN = 32 + 48  # crypto_box_SEALBYTES = ephemeral pk (32) + MAC (16); share key 32
_SIG_LEN = 64
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_ENVELOPE_MAGIC = b"CSP\x01"  # binary envelope for files / blobs: "consentry share package v1"
DEFAULT_CONTENT_TYPE = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class SharePackage:
    header: bytes
    ciphertext: bytes
    sealed_key: bytes
    signature: bytes

    @property
    def header_hash(self) -> str:
        return hashlib.sha256(self.header).hexdigest()

    @property
    def ciphertext_hash(self) -> str:
        return hashlib.sha256(self.ciphertext).hexdigest()

    def to_bytes(self) -> bytes:
        """One blob: b"CSP\\x01" then each field as u32 big-endian length + bytes, in field order."""
        parts = (self.header, self.ciphertext, self.sealed_key, self.signature)
        return _ENVELOPE_MAGIC + b"".join(struct.pack(">I", len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SharePackage:
        if blob[:3] != _ENVELOPE_MAGIC[:3]:
            raise MalformedPackage("not a consentry share package envelope")
        if blob[:4] != _ENVELOPE_MAGIC:
            raise UnsupportedVersion(f"share envelope version {blob[3] if len(blob) > 3 else '?'}")
        fields, pos = [], 4
        for _ in range(4):
            if pos + 4 > len(blob):
                raise MalformedPackage("share envelope is truncated")
            (n,) = struct.unpack_from(">I", blob, pos)
            if pos + 4 + n > len(blob):
                raise MalformedPackage("share envelope is truncated")
            fields.append(bytes(blob[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        if pos != len(blob):
            raise MalformedPackage("trailing bytes after the share envelope")
        return cls(*fields)

    def __repr__(self) -> str:
        return f"SharePackage(header_hash={self.header_hash[:16]}…, ciphertext=<{len(self.ciphertext)} bytes>)"


@dataclass(frozen=True, slots=True)
class OpenedShare:
    header: dict[str, Any]
    body: bytes

    def __repr__(self) -> str:  # keep clinical content out of logs and tracebacks
        return f"OpenedShare(share_id={self.header.get('share_id')!r}, body=<{len(self.body)} bytes>)"


def recipient_key_id(public_key: bytes) -> str:
    """16 hex chars: the first 8 bytes of SHA-256(b"consentry-x25519-v1" | 32-byte X25519 key)."""
    pk = bytes(public_key)
    if len(pk) != 32:
        raise ValueError(f"an X25519 public key is 32 bytes, got {len(pk)}")
    return hashlib.sha256(KEY_ID_DOMAIN + pk).digest()[:8].hex()


def signature_message(header: bytes, ciphertext: bytes, sealed_key: bytes) -> bytes:
    """What the service signs: fixed length (19 + 3*32 bytes), so no ambiguity between fields."""
    h = hashlib.sha256
    return SIGNATURE_DOMAIN + h(header).digest() + h(ciphertext).digest() + h(sealed_key).digest()


def format_time(now: datetime) -> str:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (a naive time is ambiguous)")
    return now.astimezone(UTC).strftime(_TIME_FORMAT)  # seconds precision by design


# --- server side ------------------------------------------------------------------------------


def build_share(
    body: bytes,
    *,
    record_id: str,
    recipient: str,
    recipient_key_id: str,
    recipient_public_key: bytes,
    purpose: str,
    ledger_seq: int,
    obligations: Iterable[str],
    signer: nacl.signing.SigningKey,
    now: datetime,
    content_type: str = DEFAULT_CONTENT_TYPE,
    share_id: str | None = None,
) -> SharePackage:
    pk = bytes(recipient_public_key)
    # The id must describe the key we seal to; a mismatch is a registry bug, never send it.
    if recipient_key_id != _key_id(pk):
        raise ValueError("recipient_key_id does not match recipient_public_key")
    header = encode_header(
        _header_dict(
            share_id=share_id or str(uuid.uuid4()),  # str(UUID) is lowercase, hyphenated
            record_id=record_id,
            recipient=recipient,
            recipient_key_id=recipient_key_id,
            purpose=purpose,
            ledger_seq=ledger_seq,
            obligations=obligations,
            time=format_time(now),
            content_type=content_type,
        )
    )
    share_key = nacl.utils.random(32)  # fresh per share: one key never encrypts two bodies
    nonce = nacl.utils.random(_NONCE)
    ciphertext = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(body), header, nonce, share_key)
    sealed_key = nacl.public.SealedBox(nacl.public.PublicKey(pk)).encrypt(share_key)
    signature = signer.sign(signature_message(header, ciphertext, sealed_key)).signature
    return SharePackage(header, ciphertext, bytes(sealed_key), signature)


def encode_header(header: dict[str, Any]) -> bytes:
    _check_header(header)
    return rfc8785.dumps(header)


def _header_dict(*, obligations: Iterable[str], **fields: Any) -> dict[str, Any]:
    if isinstance(obligations, str):
        raise TypeError("obligations must be a list of names, not a string")
    return {"v": SHARE_VERSION, "obligations": sorted(set(obligations)), **fields}


# --- client side ------------------------------------------------------------------------------


def open_share(
    pkg: SharePackage,
    *,
    service_verify_key: nacl.signing.VerifyKey,
    recipient_private_key: nacl.public.PrivateKey,
    expected_recipient: str,
) -> OpenedShare:
    """Verify, then unseal, then decrypt; each step raises its own CryptoError subclass.

    Order matters: nothing from the package (not even the header JSON) is interpreted before the
    signature under the *pinned* service key has verified.
    """
    _check_lengths(pkg)
    try:
        service_verify_key.verify(
            signature_message(pkg.header, pkg.ciphertext, pkg.sealed_key), pkg.signature
        )
    except nacl.exceptions.BadSignatureError:
        raise SignatureInvalid() from None
    header = parse_header(pkg.header)
    if header["recipient"] != expected_recipient:
        raise WrongRecipient(f"addressed to {header['recipient']!r}, expected {expected_recipient!r}")
    if header["recipient_key_id"] != recipient_key_id(bytes(recipient_private_key.public_key)):
        raise WrongRecipientKey(f"sealed to key id {header['recipient_key_id']}")
    try:
        share_key = nacl.public.SealedBox(recipient_private_key).decrypt(pkg.sealed_key)
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("unsealing the share key") from None
    if len(share_key) != 32:
        raise DecryptionFailed("the unsealed share key has the wrong length")
    nonce, ct = pkg.ciphertext[:_NONCE], pkg.ciphertext[_NONCE:]
    try:
        body = crypto_aead_xchacha20poly1305_ietf_decrypt(ct, pkg.header, nonce, share_key)
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("decrypting the share body") from None
    return OpenedShare(header, body)


def parse_header(raw: bytes) -> dict[str, Any]:
    """Parse and validate a header; it must be byte-identical to its own canonical form."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise MalformedPackage("the header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise MalformedPackage("the header is not a JSON object")
    if header.get("v") != SHARE_VERSION or isinstance(header.get("v"), bool):
        raise UnsupportedVersion(f"share header version {header.get('v')!r}")
    _check_header(header, error=MalformedPackage)
    # One byte string per header: duplicate keys, whitespace or escapes another parser might read
    # differently are refused, so every implementation sees the same header as the ledger hash.
    if rfc8785.dumps(header) != raw:
        raise MalformedPackage("the header is not in RFC 8785 canonical form")
    return header


# --- checks -----------------------------------------------------------------------------------


def _check_header(header: dict[str, Any], error: type[Exception] = ValueError) -> None:
    if set(header) != HEADER_KEYS:
        missing, extra = sorted(HEADER_KEYS - set(header)), sorted(set(header) - HEADER_KEYS)
        raise error(f"header fields wrong: missing {missing}, unexpected {extra}")
    for name in _STR_FIELDS:
        if not isinstance(header[name], str) or not header[name]:
            raise error(f"header field {name!r} must be a non-empty string")
    seq = header["ledger_seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**53:
        # 2**53: the largest integer every JSON implementation (and RFC 8785) represents exactly.
        raise error("header field 'ledger_seq' must be an integer in [0, 2**53)")
    obl = header["obligations"]
    if not isinstance(obl, list) or not all(isinstance(o, str) and o for o in obl):
        raise error("header field 'obligations' must be a list of non-empty strings")
    if obl != sorted(set(obl)):
        raise error("header field 'obligations' must be sorted and without duplicates")
    # Regexes and the datetime constructor, not strptime/uuid.UUID: this runs on every share.
    if not _is_utc_time(header["time"]):
        raise error("header field 'time' must look like 2026-11-25T12:00:00Z")
    if not _UUID_RE.fullmatch(header["share_id"]):
        raise error("header field 'share_id' must be a lowercase hyphenated UUID")
    if not _KEY_ID_RE.fullmatch(header["recipient_key_id"]):
        raise error("header field 'recipient_key_id' must be 16 lowercase hex characters")


def _is_utc_time(text: str) -> bool:
    """True for ``2026-11-25T12:00:00Z`` naming a real second (not month 13, Feb 30, ...)."""
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return False
    year, month, day, hour, minute, second = map(int, m.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _check_lengths(pkg: SharePackage) -> None:
    if len(pkg.signature) != _SIG_LEN:
        raise SignatureInvalid(f"signature is {len(pkg.signature)} bytes, expected {_SIG_LEN}")
    if len(pkg.sealed_key) != _SEALED_KEY_LEN:
        raise MalformedPackage(f"sealed key is {len(pkg.sealed_key)} bytes, expected {_SEALED_KEY_LEN}")
    if len(pkg.ciphertext) < _NONCE + _TAG:
        raise MalformedPackage("ciphertext is shorter than nonce + tag")


def _key_id(pk: bytes) -> str:
    return recipient_key_id(pk)


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")
