"""The service's signing keys over time: rotation statements, and a chain a recipient follows from
the key it pinned to the key the service signs with now (docs/share-format.md, "Key rotation").

A rotation statement, format version 1, is the RFC 8785 canonical JSON object::

    {"type": "consentry.key-rotation", "v": 1, "purpose": "share-signing",
     "old_key": base64(old Ed25519 public key), "new_key": base64(new public key), "time": RFC 3339}

signed twice, each Ed25519 over ``b"consentry-key-rotation-v1" 0x00 | statement``: by the OLD key
(continuity: whoever pinned it can follow to the new one) and by the NEW key (possession). The
prefix keeps a statement from passing for a package, a receipt or an export the same key signs.

A key is valid for what it signed until it is revoked: a retired key still verifies the packages
and receipts it signed; a revoked key verifies only what it signed before its `revoked_from`
(by the signed issue time of the package, receipt or export).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import nacl.exceptions
import nacl.signing

from consentry.ledger.canonical import canonical_json
from consentry.services.signer import Ed25519Signer

from .errors import KeyRevoked, SignatureInvalid, UnsupportedVersion
from .share_header import format_time, parse_time

ROTATION_TYPE = "consentry.key-rotation"
ROTATION_VERSION = 1
ROTATION_DOMAIN = b"consentry-key-rotation-v1\x00"
SHARE_SIGNING = "share-signing"  # the purpose of the key that signs packages, receipts and exports
_INSTANT_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z")
_MEMBERS = frozenset({"type", "v", "purpose", "old_key", "new_key", "time"})


@dataclass(frozen=True)
class Endorsement:
    """A rotation statement and its two signatures, as GetServiceKeys serves them."""

    statement: bytes
    old_signature: bytes
    new_signature: bytes


@dataclass(frozen=True)
class ServiceKey:
    """One signing key a recipient trusts, and until when: `revoked_from` None while not revoked."""

    public_key: bytes
    revoked_from: datetime | None = None

    def check_issued(self, issued: datetime) -> None:
        """Raises KeyRevoked for something signed at or after this key's revocation."""
        if self.revoked_from is not None and issued >= self.revoked_from:
            raise KeyRevoked(f"signed {format_time(issued)}, key revoked from {format_time(self.revoked_from)}")


def fingerprint(public_key: bytes) -> str:
    """`SHA256:` and the unpadded base64 of SHA-256 over the 32-byte public key (docs/identity.md)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(bytes(public_key)).digest()).decode().rstrip("=")


def rotation_statement(purpose: str, old_key: bytes, new_key: bytes, when: datetime) -> bytes:
    return canonical_json({"type": ROTATION_TYPE, "v": ROTATION_VERSION, "purpose": purpose,
                           "old_key": _b64(old_key), "new_key": _b64(new_key), "time": format_time(when)})


def endorse(statement: bytes, old: Ed25519Signer, new: Ed25519Signer) -> Endorsement:
    return Endorsement(statement, bytes(old.sign(ROTATION_DOMAIN + statement).signature),
                       bytes(new.sign(ROTATION_DOMAIN + statement).signature))


def verify_endorsement(endorsement: Endorsement, old_key: ServiceKey, purpose: str) -> ServiceKey:
    """The new key `endorsement` hands over to, once its statement is version 1 for `purpose`,
    names `old_key` and carries both signatures; raises SignatureInvalid (or UnsupportedVersion)."""
    try:
        statement = json.loads(endorsement.statement)
        if not isinstance(statement, dict) or canonical_json(statement) != endorsement.statement:
            raise SignatureInvalid("a rotation statement is not one canonical JSON object")
    except ValueError:
        raise SignatureInvalid("a rotation statement is not JSON") from None
    if set(statement) != _MEMBERS or statement["type"] != ROTATION_TYPE:
        raise SignatureInvalid("a rotation statement lacks the members of its format")
    if statement["v"] != ROTATION_VERSION:
        raise UnsupportedVersion(f"rotation statement version {statement['v']!r}")
    if statement["purpose"] != purpose or _unb64(statement["old_key"]) != old_key.public_key:
        raise SignatureInvalid("a rotation statement is for another key or purpose")
    new_key = _unb64(statement["new_key"])
    try:
        nacl.signing.VerifyKey(old_key.public_key).verify(ROTATION_DOMAIN + endorsement.statement,
                                                          endorsement.old_signature)
        nacl.signing.VerifyKey(new_key).verify(ROTATION_DOMAIN + endorsement.statement, endorsement.new_signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        raise SignatureInvalid("a rotation statement is not signed by both its old and its new key") from None
    return ServiceKey(new_key)


def endorsed_at(endorsement: Endorsement) -> datetime:
    """The time a rotation statement states (SignatureInvalid when it has none)."""
    try:
        return _time(json.loads(endorsement.statement)["time"])
    except (ValueError, KeyError, TypeError):
        raise SignatureInvalid("a rotation statement's time is malformed") from None


class KeyChain:
    """The keys a recipient trusts for one purpose: the pinned key, then each key an endorsement
    verified under the one before handed over to. The last is the key the service signs with now.

    `KeyChain.pinned(key)` alone behaves exactly as the single pinned key."""

    def __init__(self, keys: list[ServiceKey]) -> None:
        if not keys:
            raise ValueError("a key chain starts with the pinned key")
        self.keys = keys

    @classmethod
    def pinned(cls, key: nacl.signing.VerifyKey | bytes) -> KeyChain:
        return cls([ServiceKey(bytes(key))])

    @classmethod
    def follow(cls, pinned: nacl.signing.VerifyKey | bytes, endorsements: Iterable[Endorsement],
               revoked: dict[bytes, datetime] | None = None, purpose: str = SHARE_SIGNING) -> KeyChain:
        """From `pinned` through `endorsements` (oldest first; those that do not continue the chain
        are skipped, an endorsement that names the chain's last key but does not verify raises),
        with the revocation times the service lists (public key -> revoked from).

        The chain stops at a key revoked before it endorsed the next: after a compromise the
        old key's word is worth nothing, so the recipient pins the new key out of band."""
        revoked = revoked or {}
        first = bytes(pinned)
        keys = [ServiceKey(first, revoked.get(first))]
        for endorsement in endorsements:
            try:
                statement = json.loads(endorsement.statement)
                names_last = _unb64(statement["old_key"]) == keys[-1].public_key
            except (ValueError, KeyError, TypeError, SignatureInvalid):
                names_last = False
            if not names_last:
                continue
            revoked_from = keys[-1].revoked_from
            if revoked_from is not None and endorsed_at(endorsement) >= revoked_from:
                break
            new = verify_endorsement(endorsement, keys[-1], purpose)
            if any(k.public_key == new.public_key for k in keys):
                raise SignatureInvalid("rotation statements hand back to a key already in the chain")
            keys.append(ServiceKey(new.public_key, revoked.get(new.public_key)))
        return cls(keys)

    @property
    def current(self) -> ServiceKey:
        return self.keys[-1]

    def verify(self, message: bytes, signature: bytes) -> ServiceKey:
        """The key of the chain `signature` verifies under (newest first); raises SignatureInvalid."""
        for key in reversed(self.keys):
            try:
                nacl.signing.VerifyKey(key.public_key).verify(message, signature)
                return key
            except nacl.exceptions.BadSignatureError:
                continue
        if self.current.revoked_from is not None:
            raise KeyRevoked(f"the key chain ends at a key revoked from {format_time(self.current.revoked_from)}; "
                             "pin the service's current key out of band (`consentry keys show`)")
        raise SignatureInvalid()

    def __contains__(self, public_key: bytes) -> bool:
        return any(k.public_key == bytes(public_key) for k in self.keys)

    def __repr__(self) -> str:
        return f"KeyChain({len(self.keys)} key(s))"


def as_chain(key: KeyChain | nacl.signing.VerifyKey | bytes) -> KeyChain:
    return key if isinstance(key, KeyChain) else KeyChain.pinned(key)


def parse_instant(text: str) -> datetime:
    """An RFC 3339 UTC instant ("...Z", any fraction digits, kept to the microsecond) as an aware
    datetime; raises ValueError."""
    match = _INSTANT_RE.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 UTC instant")
    whole = parse_time(match.group(1) + "Z")
    return whole.replace(microsecond=int((match.group(2) or "0").ljust(6, "0")[:6]))


def _time(text: object) -> datetime:
    try:
        return parse_instant(str(text))
    except ValueError:
        raise SignatureInvalid("a rotation statement's time is malformed") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(bytes(raw)).decode("ascii")


def _unb64(text: object) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("a rotation statement's key is not base64") from None
    if len(raw) != 32:
        raise SignatureInvalid("a rotation statement's key is not an Ed25519 public key")
    return raw
