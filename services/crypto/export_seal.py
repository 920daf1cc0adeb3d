"""A patient's export sealed to the patient's own key, and opened by the patient (docs/rights.md).

Patients register one Ed25519 identity key. The export is sealed to its X25519 form, converted
as libsodium's crypto_sign_ed25519_pk_to_curve25519 does (the birational map from the Edwards
curve to Montgomery form); the patient opens it with crypto_sign_ed25519_sk_to_curve25519 of
their signing key. The two uses cannot be confused: a signature is never a sealed box.

Format, version 1::

    header     = RFC 8785 JSON {"v": 1, "type": "consentry.export", "export_id", "patient_key_id",
                                "records": n, "time", "content_type": "application/fhir+json"}
    ciphertext = nonce: 24 | XChaCha20-Poly1305(bundle, AAD = header, key = export key)
    sealed_key = crypto_box_seal(export key, X25519(patient's Ed25519 public key))
    signature  = Ed25519(share-signing key, "consentry-export-v1" 0x00 | SHA-256(header) |
                        SHA-256(ciphertext) | SHA-256(sealed_key))
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils
import rfc8785
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_sign_ed25519_pk_to_curve25519,
)

from .errors import DecryptionFailed, MalformedPackage, SignatureInvalid, UnsupportedVersion
from .key_chain import KeyChain, as_chain

__all__ = ["MalformedPackage", "SealedExport", "open_export", "seal_export"]
from consentry.services.signer import Ed25519Signer

from .share_header import format_time, parse_time

EXPORT_VERSION = 1
_DOMAIN = b"consentry-export-v1\x00"
_NONCE = 24


@dataclass(frozen=True)
class SealedExport:
    header: bytes
    ciphertext: bytes
    sealed_key: bytes
    signature: bytes


def seal_export(bundle: bytes, *, export_id: str, patient_key_id: str, patient_public_key: bytes, records: int,
                signer: Ed25519Signer, now: datetime) -> SealedExport:
    header = rfc8785.dumps({"v": EXPORT_VERSION, "type": "consentry.export", "export_id": export_id,
                            "patient_key_id": patient_key_id, "records": records, "time": format_time(now),
                            "content_type": "application/fhir+json"})
    key, nonce = nacl.utils.random(32), nacl.utils.random(_NONCE)
    ciphertext = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(bundle, header, nonce, key)
    x25519 = nacl.public.PublicKey(crypto_sign_ed25519_pk_to_curve25519(bytes(patient_public_key)))
    sealed_key = nacl.public.SealedBox(x25519).encrypt(key)
    signature = signer.sign(_signed(header, ciphertext, sealed_key)).signature
    return SealedExport(header, ciphertext, bytes(sealed_key), signature)


def open_export(export: SealedExport, identity: nacl.signing.SigningKey,
                service_key: KeyChain | nacl.signing.VerifyKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the FHIR Bundle, once the service's signature checks out (under the pinned
    key or a key of the chain followed from it, not revoked before the export's time) and the
    export opens with the patient's signing key; raises a crypto error otherwise."""
    try:
        signer = as_chain(service_key).verify(_signed(export.header, export.ciphertext, export.sealed_key),
                                              export.signature)
    except SignatureInvalid:
        raise DecryptionFailed("the export's signature is not the service's") from None
    header = json.loads(export.header)
    if header.get("v") != EXPORT_VERSION or header.get("type") != "consentry.export":
        raise UnsupportedVersion(f"export version {header.get('v')!r}")
    try:
        signer.check_issued(parse_time(str(header.get("time"))))
    except ValueError:
        raise MalformedPackage("the export's time is malformed") from None
    if len(export.ciphertext) < _NONCE + 16:
        raise MalformedPackage("export ciphertext is truncated")
    try:
        key = nacl.public.SealedBox(identity.to_curve25519_private_key()).decrypt(export.sealed_key)
        bundle = crypto_aead_xchacha20poly1305_ietf_decrypt(export.ciphertext[_NONCE:], export.header,
                                                            export.ciphertext[:_NONCE], key)
    except nacl.exceptions.CryptoError:
        raise DecryptionFailed("the export does not open with this key") from None
    return header, json.loads(bundle)


def _signed(header: bytes, ciphertext: bytes, sealed_key: bytes) -> bytes:
    h = hashlib.sha256
    return _DOMAIN + h(header).digest() + h(ciphertext).digest() + h(sealed_key).digest()
