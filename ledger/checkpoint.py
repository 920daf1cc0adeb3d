"""C2SP signed notes and tlog checkpoints (Ed25519), plus when to cut one.

Formats (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint):

* checkpoint body: ``<origin>\\n<size>\\n<base64 root>\\n`` (no extension lines)
* note: ``<body>\\n— <name> <base64(key id || signature)>\\n`` (one line per signer)
* key id: first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)
* verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``

These match Go's ``golang.org/x/mod/sumdb/note``, so witnesses accept our
checkpoints unchanged (checked against its published known-answer note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import nacl.exceptions
import nacl.signing

from .errors import CheckpointError, SignatureError
from .hashing import HASH_SIZE

ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash + space starts every signature line
_MAX_SIGNATURES = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id binding a key name to an Ed25519 public key."""
    return hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    # Names end at whitespace in signature lines and at "+" in key strings.
    if not name or "+" in name or any(c.isspace() for c in name):
        raise CheckpointError(f"key name {name!r} is empty or contains '+' or whitespace")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc


def decode_vkey(vkey: str, alg: bytes) -> tuple[str, str, bytes]:
    """Split ``<name>+<hex key id>+<base64(alg || 32-byte key)>``; the caller checks the id."""
    parts = vkey.strip().split("+", 2)  # base64 may contain "+"
    if len(parts) != 3:
        raise CheckpointError("a verifier key has the form name+keyid+key")
    name, hex_id, b64 = parts
    check_key_name(name)
    raw = _b64decode(b64, "the verifier key")
    if len(raw) != 33 or raw[:1] != alg:
        raise CheckpointError(f"the verifier key is not an Ed25519 (0x{alg.hex()}) key")
    return name, hex_id, raw[1:]


def decode_skey(skey: str, alg: bytes) -> tuple[str, str, bytes]:
    """Split ``PRIVATE+KEY+<name>+<hex key id>+<base64(alg || 32-byte seed)>``; the caller checks the id."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise CheckpointError("a signer key has the form PRIVATE+KEY+name+keyid+key")
    name, hex_id, b64 = parts[2:]
    check_key_name(name)
    raw = _b64decode(b64, "the signer key")
    if len(raw) != 33 or raw[:1] != alg:
        raise CheckpointError(f"the signer key is not an Ed25519 (0x{alg.hex()}) key")
    return name, hex_id, raw[1:]


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key that checks signed notes."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @classmethod
    def from_key(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        name, hex_id, public_key = decode_vkey(vkey, ALG_ED25519)
        verifier = cls(name, public_key)
        if hex_id != verifier.key_id.hex():
            raise CheckpointError(f"key id {hex_id} does not match key {name}")
        return verifier

    def to_key(self) -> str:
        raw = base64.b64encode(ALG_ED25519 + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return False
        return True


@dataclass(frozen=True, repr=False)
class NoteSigner:
    """A named Ed25519 private key that signs notes (repr hides the seed)."""

    name: str
    seed: bytes

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r})"

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, bytes(nacl.signing.SigningKey(self.seed).verify_key))

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        check_key_name(name)
        return cls(name, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_key(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``."""
        name, hex_id, seed = decode_skey(skey, ALG_ED25519)
        signer = cls(name, seed)
        if hex_id != signer.verifier.key_id.hex():
            raise CheckpointError(f"key id {hex_id} does not match key {name}")
        return signer

    def to_key(self) -> str:
        raw = base64.b64encode(ALG_ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{raw}"

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature


class NoteSigning(Protocol):
    """Whatever signs notes: a `NoteSigner`, or a `DelegatedNoteSigner` whose key is elsewhere."""

    @property
    def name(self) -> str: ...

    @property
    def verifier(self) -> NoteVerifier: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class DelegatedNoteSigner:
    """A named Ed25519 key this process cannot read (in a hardware token): `sign_with` signs."""

    name: str
    public_key: bytes
    sign_with: Callable[[bytes], bytes]

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.sign_with(message)


# ---------------------------------------------------------------- signed notes


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise CheckpointError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("note text contains a control character")


def sign_note(text: str, signer: NoteSigning) -> str:
    """Return ``text`` followed by a blank line and the signer's signature line."""
    _check_text(text)
    sig = signer.sign(text.encode("utf-8"))
    blob = base64.b64encode(signer.verifier.key_id + sig).decode()
    return f"{text}\n{_SIG_PREFIX}{signer.name} {blob}\n"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: the key name, the 4-byte key id, the signature after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as written in a note, newline included."""
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its (well-formed, unverified) signature lines."""
    if not note.endswith("\n"):
        raise CheckpointError("a signed note ends with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("a signed note needs a blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    lines = sig_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError("the note has too many signature lines")
    return text, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise CheckpointError("a signature line does not start with an em dash")
    name, space, blob = line[len(_SIG_PREFIX) :].partition(" ")
    if not space or not name or " " in blob:
        raise CheckpointError("a signature line is not '— <name> <signature>'")
    raw = _b64decode(blob, "a signature")
    if len(raw) < 5:
        raise CheckpointError("a signature is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def open_note(note: str, verifier: NoteVerifier) -> str:
    """Return the text of ``note`` if ``verifier`` signed it; raise otherwise.

    Signature lines from other keys (e.g. witness cosignatures) are allowed
    but must be well formed; the note must carry a valid signature by
    ``verifier``.
    """
    text, signatures = split_note(note)
    if not signed_by(text, signatures, verifier):
        other = other_key_ids(signatures, [verifier])
        if other:
            raise SignatureError(f"the note is {key_mismatch(other, verifier)}")
        raise SignatureError(f"the note carries no signature by {verifier.name} (key id {verifier.key_id.hex()})")
    return text


def other_key_ids(signatures: list[NoteSignature], verifiers: list[NoteVerifier]) -> list[str]:
    """Key ids (hex) of lines bearing the verifiers' name but none of their keys.

    Every install names its ledger key after the default origin, so a shared name says nothing:
    another install's checkpoint is told apart by its key id only.
    """
    names = {v.name for v in verifiers}
    ids = {v.key_id for v in verifiers}
    return list(dict.fromkeys(s.key_id.hex() for s in signatures if s.name in names and s.key_id not in ids))


def key_mismatch(note_ids: list[str], given: NoteVerifier) -> str:
    """How a note signed under another key of the same name is described (one line)."""
    return (f"signed by a key other than the one given: note key id {', '.join(note_ids)}, "
            f"given key id {given.key_id.hex()}")


def signed_by(text: str, signatures: list[NoteSignature], verifier: NoteVerifier) -> bool:
    """True if a line of ``verifier``'s name and key id signs ``text``; a line that does not is an error."""
    found = False
    for sig in signatures:
        if sig.name != verifier.name or sig.key_id != verifier.key_id:
            continue  # someone else's signature, e.g. a witness
        if len(sig.signature) != 64 or not verifier.verify(text.encode("utf-8"), sig.signature):
            raise SignatureError(f"the signature by {verifier.name} does not match the note text")
        found = True
    return found


def add_signatures(note: str, signatures: list[NoteSignature]) -> str:
    """``note`` with ``signatures`` added; a new line replaces an old one of the same name and key id.

    Signatures cover the text only, so adding lines never invalidates those already there.
    """
    text, present = split_note(note)
    fresh = {(sig.name, sig.key_id): sig for sig in signatures}
    merged = [fresh.pop((sig.name, sig.key_id), sig) for sig in present]
    merged += fresh.values()
    if len(merged) > _MAX_SIGNATURES:
        raise CheckpointError("the note would have too many signature lines")
    return text + "\n" + "".join(sig.line() for sig in merged)


# ---------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log ``origin`` had ``size`` entries with ``root``."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return format_checkpoint(self.origin, self.size, self.root)


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The C2SP tlog-checkpoint body: origin, decimal size, base64 root."""
    if not origin or "\n" in origin:
        raise CheckpointError("the checkpoint origin must be one non-empty line")
    if size < 0 or len(root) != HASH_SIZE:
        raise CheckpointError("a checkpoint needs a size >= 0 and a 32-byte root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body; extension lines are refused (we never write any)."""
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise CheckpointError("a checkpoint body is exactly origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise CheckpointError("the checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(f"checkpoint size {size_text!r} is not a plain decimal")
    root = _b64decode(root_text, "the checkpoint root")
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise CheckpointError("the checkpoint root is not a canonical base64 32-byte hash")
    return Checkpoint(origin, int(size_text), root)


def sign_checkpoint(signer: NoteSigning, origin: str, size: int, root: bytes) -> str:
    """Return the signed note for (origin, size, root)."""
    return sign_note(format_checkpoint(origin, size, root), signer)


def verify_checkpoint(note: str, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Check the note's signature and parse its body; optionally pin the origin."""
    checkpoint = parse_checkpoint(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class CheckpointPolicy:
    """Cut a checkpoint every ``every_entries`` entries or ``every_seconds`` seconds."""

    every_entries: int = 1000
    every_seconds: float = 60.0

    def due(
        self,
        size: int,
        last_size: int | None,
        last_time: datetime | None,
        now: datetime,
    ) -> bool:
        """True when a new checkpoint should be signed now.

        Never when the log did not grow: re-signing an unchanged size adds
        nothing and would only multiply notes for one statement.
        """
        if last_size is None:
            return size > 0
        if size <= last_size:
            return False
        if size - last_size >= self.every_entries:
            return True
        return last_time is None or now - last_time >= timedelta(seconds=self.every_seconds)
