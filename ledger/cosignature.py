"""C2SP tlog-cosignature v1 (Ed25519, timestamped): a witness's signature on a checkpoint.

Formats (https://c2sp.org/tlog-cosignature, https://c2sp.org/signed-note):

* signed message: ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body
* signature line: ``— <name> base64(key id || timestamp (u64 big-endian) || Ed25519 signature)``
* key id: first 4 bytes of SHA-256(name || 0x0A || 0x04 || public key)
* verifier key: ``<name>+<hex key id>+<base64(0x04 || public key)>``
* signer key (our file format; the spec defines none):
  ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>``

A cosignature says: at ``timestamp``, the largest consistent tree the witness
had seen for the origin had this root.  The message does not commit to the
witness's name, so one key must never serve two witness names.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from .checkpoint import (
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    check_key_name,
    decode_skey,
    decode_vkey,
    split_note,
    verify_checkpoint,
)
from .errors import CheckpointError, QuorumError, SignatureError

ALG_COSIGNATURE_V1 = b"\x04"
MAX_TIMESTAMP = 2**63 - 1
_HEADER = "cosignature/v1\n"


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of a cosignature/v1 key (signature type 0x04)."""
    return hashlib.sha256(name.encode() + b"\n" + ALG_COSIGNATURE_V1 + public_key).digest()[:4]


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a witness signs: the header line, the time line, then the checkpoint body."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
    return f"{_HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which witness key made it, and when (POSIX seconds)."""

    name: str
    key_id: bytes
    timestamp: int


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's name and Ed25519 public key, as trusted by a log or a client."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return cosignature_key_id(self.name, self.public_key)

    @classmethod
    def from_key(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
        name, hex_id, public_key = decode_vkey(vkey, ALG_COSIGNATURE_V1)
        verifier = cls(name, public_key)
        if hex_id != verifier.key_id.hex():
            raise CheckpointError(f"key id {hex_id} does not match witness key {name}")
        return verifier

    def to_key(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(ALG_COSIGNATURE_V1 + self.public_key)}"

    def matches(self, sig: NoteSignature) -> bool:
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, text: str, sig: NoteSignature) -> Cosignature:
        """Check one of this witness's lines over ``text``; raise SignatureError if it does not verify."""
        if len(sig.signature) != 8 + 64:
            raise SignatureError(f"the cosignature by {self.name} is not a timestamp and an Ed25519 signature")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if timestamp == 0 or timestamp > MAX_TIMESTAMP:
            raise SignatureError(f"the cosignature by {self.name} has timestamp {timestamp}, outside 1..2^63-1")
        try:
            nacl.signing.VerifyKey(self.public_key).verify(cosignature_message(text, timestamp), sig.signature[8:])
        except nacl.exceptions.BadSignatureError:
            raise SignatureError(f"the cosignature by {self.name} does not match this checkpoint") from None
        return Cosignature(self.name, self.key_id, timestamp)


@dataclass(frozen=True, repr=False)
class Cosigner:
    """A witness's named Ed25519 private key (repr hides the seed)."""

    name: str
    seed: bytes

    def __repr__(self) -> str:
        return f"Cosigner(name={self.name!r})"

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, bytes(nacl.signing.SigningKey(self.seed).verify_key))

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        check_key_name(name)
        return cls(name, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_key(cls, skey: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>``."""
        name, hex_id, seed = decode_skey(skey, ALG_COSIGNATURE_V1)
        cosigner = cls(name, seed)
        if hex_id != cosigner.verifier.key_id.hex():
            raise CheckpointError(f"key id {hex_id} does not match witness key {name}")
        return cosigner

    def to_key(self) -> str:
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{_b64(ALG_COSIGNATURE_V1 + self.seed)}"

    def cosign(self, text: str, timestamp: int) -> NoteSignature:
        """The cosignature/v1 line over checkpoint body ``text`` at ``timestamp`` (POSIX seconds, > 0)."""
        if timestamp <= 0:
            raise CheckpointError("a witness's cosignature carries a timestamp after the epoch")
        signature = nacl.signing.SigningKey(self.seed).sign(cosignature_message(text, timestamp)).signature
        return NoteSignature(self.name, self.verifier.key_id, struct.pack(">Q", timestamp) + signature)


def verify_cosignatures(note: str, witnesses: Iterable[CosignatureVerifier]) -> list[Cosignature]:
    """The valid cosignatures on ``note`` by ``witnesses``, one per witness key.

    Lines by other keys are ignored; a line with a known witness's name and
    key id that does not verify (over another checkpoint, say) is an error,
    as C2SP signed-note asks of a known key's bad signature.
    """
    text, signatures = split_note(note)
    known = list(witnesses)
    found: dict[bytes, Cosignature] = {}
    for sig in signatures:
        for witness in known:
            if witness.matches(sig):
                cosignature = witness.verify(text, sig)
                found.setdefault(witness.key_id + witness.public_key, cosignature)
    return list(found.values())


def require_cosignatures(
    note: str,
    log: NoteVerifier,
    witnesses: Iterable[CosignatureVerifier],
    minimum: int,
    *,
    origin: str | None = None,
) -> tuple[Checkpoint, list[Cosignature]]:
    """Verify the log's signature and at least ``minimum`` cosignatures by distinct ``witnesses``.

    Raises QuorumError when too few witnesses cosigned.  ``minimum`` must be
    between 1 and the number of distinct witness keys: a quorum of none would
    accept every checkpoint, and one larger than the witnesses none.
    """
    distinct = list(dict.fromkeys(witnesses))
    if not 1 <= minimum <= len(distinct):
        raise ValueError(f"a quorum of {minimum} out of {len(distinct)} witness keys can never be right")
    checkpoint = verify_checkpoint(note, log, origin)
    cosignatures = verify_cosignatures(note, distinct)
    if len(cosignatures) < minimum:
        names = ", ".join(sorted({w.name for w in distinct}))
        raise QuorumError(
            f"the checkpoint of {checkpoint.size} entries carries {len(cosignatures)} valid cosignatures "
            f"by the witnesses given ({names}); {minimum} are required"
        )
    return checkpoint, cosignatures


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
