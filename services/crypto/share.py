"""The share package (v2): one record, encrypted for one recipient, bound to the fetch it answers,
signed by the service.

docs/share-format.md is the normative description (byte layouts, verification order); keep the
two in step. In short::

    header     = RFC 8785 canonical JSON of exactly the members of HEADER_KEYS[2], "v": 2
    ciphertext = nonce: 24 | XChaCha20-Poly1305(key=share_key, aad=header, body) + tag: 16
    sealed_key = crypto_box_seal(share_key, recipient X25519 public key)         (80 bytes)
    signature  = Ed25519(service key, b"consentry-share-v2\\x00"
                         | SHA-256(header) | SHA-256(ciphertext) | SHA-256(sealed_key))

The sealed key's hash is signed too, so *every* byte of the package is authenticated by the pinned
service key before the recipient touches its private key: a flipped bit anywhere is rejected as
``SignatureInvalid``, and an attacker cannot substitute a sealed key of their own (which would be
a key-substitution oracle against the recipient's unsealing).

A live package is opened with ``open_share`` against the fetch it must answer (``Expected``):
purpose, the client's fetch nonce, the issue time and the patient binding. ``open_archived_share``
reads a package the recipient stored itself, including version 1, which binds no fetch.

``build_share`` is pure (no I/O, no clock): the caller allocates ``ledger_seq`` first and writes
``header_hash`` / ``ciphertext_hash`` into the same ledger entry, in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

from consentry.services.signer import Ed25519Signer

from .errors import (
    DecryptionFailed,
    MalformedPackage,
    OutsideTimeWindow,
    SignatureInvalid,
    UnsupportedVersion,
    WrongFetchNonce,
    WrongPatient,
    WrongPurpose,
    WrongRecipient,
    WrongRecipientKey,
)
from .key_chain import KeyChain, as_chain
from .share_header import (
    FETCH_BOUND_VERSIONS,
    READABLE_VERSIONS,
    SHARE_VERSION,
    encode_fetch_nonce,
    encode_header,
    format_time,
    parse_header,
    parse_time,
    patient_binding,
)

SIGNATURE_DOMAINS = {1: b"consentry-share-v1\x00", 2: b"consentry-share-v2\x00", 3: b"consentry-share-v3\x00"}
KEY_ID_DOMAIN = b"consentry-x25519-v1"
DEFAULT_TIME_WINDOW = timedelta(minutes=5)
DEFAULT_CONTENT_TYPE = "application/fhir+json"
_NONCE = 24
_TAG = 16
_SEALED_KEY_LEN = 32 + 48  # crypto_box_SEALBYTES = ephemeral pk (32) + MAC (16); share key 32
_SIG_LEN = 64
# What a package is verified under: the pinned key, or the chain followed from it (key_chain.py).
ServiceKeys = KeyChain | nacl.signing.VerifyKey
_ENVELOPE_MAGIC = b"CSP"  # then one version byte: "consentry share package", format version


@dataclass(frozen=True, slots=True)
class SharePackage:
    """The four byte strings of a package, and the format version they claim. The version is not
    inside them: it selects the signature domain (a v1 signature never verifies as v2), and the
    header's ``v`` must then agree. A package from a fetch response is the current version."""

    header: bytes
    ciphertext: bytes
    sealed_key: bytes
    signature: bytes
    version: int = SHARE_VERSION

    @property
    def header_hash(self) -> str:
        return hashlib.sha256(self.header).hexdigest()

    @property
    def ciphertext_hash(self) -> str:
        return hashlib.sha256(self.ciphertext).hexdigest()

    def to_bytes(self) -> bytes:
        """One blob: b"CSP", the version byte, then each field as u32 big-endian length + bytes."""
        parts = (self.header, self.ciphertext, self.sealed_key, self.signature)
        return _ENVELOPE_MAGIC + bytes([self.version]) + b"".join(struct.pack(">I", len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SharePackage:
        if blob[:3] != _ENVELOPE_MAGIC:
            raise MalformedPackage("not a consentry share package envelope")
        if len(blob) < 4 or blob[3] not in READABLE_VERSIONS:
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
        header, ciphertext, sealed_key, signature = fields
        return cls(header, ciphertext, sealed_key, signature, version=blob[3])

    def __repr__(self) -> str:
        return (f"SharePackage(v{self.version}, header_hash={self.header_hash[:16]}…, "
                f"ciphertext=<{len(self.ciphertext)} bytes>)")


@dataclass(frozen=True, slots=True)
class OpenedShare:
    header: dict[str, Any]
    body: bytes

    def __repr__(self) -> str:  # keep clinical content out of logs and tracebacks
        return f"OpenedShare(share_id={self.header.get('share_id')!r}, body=<{len(self.body)} bytes>)"


@dataclass(frozen=True, slots=True)
class Expected:
    """The fetch a live package must answer, as the recipient itself knows it: the purpose it
    asked for, the patient reference it named (a patient id, or a research subject id), the nonce
    it sent, and its own clock with the window it accepts around it."""

    purpose: str
    patient_ref: str
    fetch_nonce: bytes
    now: datetime
    window: timedelta = DEFAULT_TIME_WINDOW

    def __repr__(self) -> str:  # the patient reference is an identifier: keep it out of logs
        return f"Expected(purpose={self.purpose!r}, window={self.window})"


def recipient_key_id(public_key: bytes) -> str:
    """16 hex chars: the first 8 bytes of SHA-256(b"consentry-x25519-v1" | 32-byte X25519 key)."""
    pk = bytes(public_key)
    if len(pk) != 32:
        raise ValueError(f"an X25519 public key is 32 bytes, got {len(pk)}")
    return hashlib.sha256(KEY_ID_DOMAIN + pk).digest()[:8].hex()


def signature_message(header: bytes, ciphertext: bytes, sealed_key: bytes, version: int = SHARE_VERSION) -> bytes:
    """What the service signs: fixed length (19 + 3*32 bytes), so no ambiguity between fields."""
    h = hashlib.sha256
    return SIGNATURE_DOMAINS[version] + h(header).digest() + h(ciphertext).digest() + h(sealed_key).digest()


# --- server side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShareKey:
    """A fresh share key and its sealing to one recipient's X25519 key, made ahead of the header
    (sealing is most of a package's cost, and needs nothing the header holds). One per package."""

    key: bytes
    sealed: bytes
    recipient_public_key: bytes

    @classmethod
    def for_recipient(cls, recipient_public_key: bytes) -> ShareKey:
        pk = bytes(recipient_public_key)
        key = nacl.utils.random(32)  # fresh per share: one key never encrypts two bodies
        return cls(key, bytes(nacl.public.SealedBox(nacl.public.PublicKey(pk)).encrypt(key)), pk)


def build_share(
    body: bytes,
    *,
    record_id: str,
    category: str,
    recipient: str,
    recipient_key_id: str,
    recipient_public_key: bytes,
    purpose: str,
    patient_ref: str,
    fetch_nonce: bytes,
    ledger_seq: int,
    obligations: Iterable[str],
    signer: Ed25519Signer,
    now: datetime,
    content_type: str = DEFAULT_CONTENT_TYPE,
    share_id: str | None = None,
    redisclosure: dict[str, Any] | None = None,
    share_key: ShareKey | None = None,
) -> SharePackage:
    """A version 3 package. `recipient` is the institution id as registered (no "org:" prefix);
    `patient_ref` is the identifier the recipient named in its fetch; `fetch_nonce` the nonce it
    sent; `redisclosure` the Part 2 notice and consent scopes of a substance-use record, else None;
    `share_key` a ShareKey made ahead for this package (else one is made here)."""
    pk = bytes(recipient_public_key)
    # The id must describe the key we seal to; a mismatch is a registry bug, never send it.
    if recipient_key_id != _key_id(pk):
        raise ValueError("recipient_key_id does not match recipient_public_key")
    if isinstance(obligations, str):
        raise TypeError("obligations must be a list of names, not a string")
    share_key = share_key or ShareKey.for_recipient(pk)
    if share_key.recipient_public_key != pk:
        raise ValueError("the share key was sealed to another key than recipient_public_key")
    header = encode_header({
        "v": SHARE_VERSION, "share_id": share_id or str(uuid.uuid4()),  # lowercase, hyphenated
        "record_id": record_id, "category": category, "recipient": recipient,
        "recipient_key_id": recipient_key_id, "purpose": purpose, "ledger_seq": ledger_seq,
        "obligations": sorted(set(obligations)), "time": format_time(now), "content_type": content_type,
        "patient_binding": patient_binding(share_key.key, patient_ref),
        "fetch_nonce": encode_fetch_nonce(fetch_nonce),
        "redisclosure": redisclosure,
    })
    nonce = nacl.utils.random(_NONCE)
    ciphertext = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(bytes(body), header, nonce, share_key.key)
    signature = signer.sign(signature_message(header, ciphertext, share_key.sealed)).signature
    return SharePackage(header, ciphertext, share_key.sealed, signature)


# --- client side ------------------------------------------------------------------------------


def open_share(
    pkg: SharePackage,
    *,
    service_verify_key: ServiceKeys,
    recipient_private_key: nacl.public.PrivateKey,
    expected_recipient: str,
    expected: Expected,
) -> OpenedShare:
    """Opens a package just received, in the documented order; each step raises its own CryptoError.

    Nothing from the package (not even the header JSON) is interpreted before the signature under
    the *pinned* service key has verified; the private key is used only on a package that answers
    `expected`; the body is decrypted only once the patient binding matched.
    """
    if pkg.version not in FETCH_BOUND_VERSIONS:
        raise UnsupportedVersion(f"a version {pkg.version} package binds no fetch; only an archive reads it")
    header = _verified_header(pkg, service_verify_key)
    _check_recipient(header, expected_recipient, recipient_private_key)
    _check_answers(header, expected)
    share_key = _unseal(pkg, recipient_private_key)
    if not hmac.compare_digest(header["patient_binding"], patient_binding(share_key, expected.patient_ref)):
        raise WrongPatient()
    return OpenedShare(header, _decrypt(pkg, share_key))


def open_archived_share(
    pkg: SharePackage,
    *,
    service_verify_key: ServiceKeys,
    recipient_private_key: nacl.public.PrivateKey,
    expected_recipient: str,
) -> OpenedShare:
    """Opens a package (any readable version) that the recipient stored itself after receiving it.

    Signature, recipient, key and decryption are checked; nothing ties the package to a fetch (a
    version 1 package cannot be, docs/share-format.md "Version 1"). Never use this on a package
    that just arrived: that is `open_share`'s job.
    """
    if pkg.version not in READABLE_VERSIONS:
        raise UnsupportedVersion(f"share package version {pkg.version}")
    header = _verified_header(pkg, service_verify_key)
    _check_recipient(header, expected_recipient, recipient_private_key)
    return OpenedShare(header, _decrypt(pkg, _unseal(pkg, recipient_private_key)))


def _verified_header(pkg: SharePackage, service_verify_key: ServiceKeys) -> dict[str, Any]:
    """The header, once the signature verifies under a key of the chain (a single pinned key is a
    chain of one) that was not revoked before the header's issue time."""
    _check_lengths(pkg)
    message = signature_message(pkg.header, pkg.ciphertext, pkg.sealed_key, pkg.version)
    signer = as_chain(service_verify_key).verify(message, pkg.signature)
    header = parse_header(pkg.header, pkg.version)
    signer.check_issued(parse_time(header["time"]))
    return header


def _check_recipient(header: dict[str, Any], expected_recipient: str, key: nacl.public.PrivateKey) -> None:
    if header["recipient"] != expected_recipient:
        raise WrongRecipient(f"addressed to {header['recipient']!r}, expected {expected_recipient!r}")
    if header["recipient_key_id"] != recipient_key_id(bytes(key.public_key)):
        raise WrongRecipientKey(f"sealed to key id {header['recipient_key_id']}")


def _check_answers(header: dict[str, Any], expected: Expected) -> None:
    if header["purpose"] != expected.purpose:
        raise WrongPurpose(f"released for {header['purpose']}, asked for {expected.purpose}")
    if header["fetch_nonce"] != encode_fetch_nonce(expected.fetch_nonce):
        raise WrongFetchNonce()
    issued, now = parse_time(header["time"]), expected.now
    if not now - expected.window <= issued <= now + expected.window:
        raise OutsideTimeWindow(f"issued {header['time']}, now {format_time(now)}, window {expected.window}")


def _unseal(pkg: SharePackage, key: nacl.public.PrivateKey) -> bytes:
    try:
        share_key = nacl.public.SealedBox(key).decrypt(pkg.sealed_key)
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("unsealing the share key") from None
    if len(share_key) != 32:
        raise DecryptionFailed("the unsealed share key has the wrong length")
    return share_key


def _decrypt(pkg: SharePackage, share_key: bytes) -> bytes:
    nonce, ct = pkg.ciphertext[:_NONCE], pkg.ciphertext[_NONCE:]
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(ct, pkg.header, nonce, share_key)
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("decrypting the share body") from None


def _check_lengths(pkg: SharePackage) -> None:
    if len(pkg.signature) != _SIG_LEN:
        raise SignatureInvalid(f"signature is {len(pkg.signature)} bytes, expected {_SIG_LEN}")
    if len(pkg.sealed_key) != _SEALED_KEY_LEN:
        raise MalformedPackage(f"sealed key is {len(pkg.sealed_key)} bytes, expected {_SEALED_KEY_LEN}")
    if len(pkg.ciphertext) < _NONCE + _TAG:
        raise MalformedPackage("ciphertext is shorter than nonce + tag")


def _key_id(pk: bytes) -> str:
    return recipient_key_id(pk)
