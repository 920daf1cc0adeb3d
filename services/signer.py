"""What signs for a principal or for the service: an Ed25519 key the process holds
(`nacl.signing.SigningKey`) or one it can only ask to sign (a key in a PKCS#11 token)."""

from __future__ import annotations

from typing import Protocol

import nacl.signing


class HasSignature(Protocol):
    @property
    def signature(self) -> bytes: ...


class Ed25519Signer(Protocol):
    @property
    def verify_key(self) -> nacl.signing.VerifyKey: ...

    def sign(self, message: bytes) -> HasSignature:
        """The 64-byte RFC 8032 signature over `message`, as `.signature`."""
        ...


def one_key(signer: Ed25519Signer) -> Ed25519Signer:
    """The key a signer that follows rotations (`current()`, domain/service_keys.py) holds now,
    for a caller that names the key and then signs with it: both are then the same key."""
    current = getattr(signer, "current", None)
    return current() if callable(current) else signer
