"""Rotating and revoking the checkpoint key, announced in the ledger itself (docs/ledger.md, "Key rotation").

A rotation is the entry ``ledger.key_rotated``: it names the old and the new verifier key and
carries the old key's signature over a *rotation statement*. A verifier that pinned the old key
follows to the new one when the entry is in the log it verifies (under the checkpoint it checks)
and the statement verifies under the old key. A revocation is the entry ``ledger.key_revoked``,
signed by a key the verifier follows: checkpoints carrying only the revoked key's signature are
trusted only with a witness cosignature timestamped before the revocation's ``from`` time.

Statements are UTF-8 text, one field per line, each line ending in ``\\n``::

    consentry/ledger-key-rotation/v1          consentry/ledger-key-revocation/v1
    <origin>                                  <origin>
    <old verifier key>                        <revoked verifier key>
    <new verifier key>                        <revoked from: RFC 3339 UTC time>
    <the entry's time>                        <revoking verifier key>
                                              <the entry's time>

signed with Ed25519 (pure, RFC 8032) by the old (resp. revoking) key; the signature is the
entry's ``statement_signature`` in base64. The first line keeps a statement from ever being read
as a checkpoint (three lines) or a cosignature message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .checkpoint import NoteSigning, NoteVerifier, key_mismatch, other_key_ids, signed_by, split_note
from .cosignature import CosignatureVerifier, verify_cosignatures
from .errors import CheckpointError, SignatureError

ROTATED_KIND = "ledger.key_rotated"
REVOKED_KIND = "ledger.key_revoked"
ROTATION_HEADER = "consentry/ledger-key-rotation/v1"
REVOCATION_HEADER = "consentry/ledger-key-revocation/v1"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")
_PATTERNS = tuple(b'"kind":"%s"' % kind.encode() for kind in (ROTATED_KIND, REVOKED_KIND))


class KeyRotationError(SignatureError):
    """A checkpoint is signed by no key the verifier trusts or follows to (the message says why)."""


def _lines(*fields: str) -> bytes:
    for value in fields:
        if not value or "\n" in value:
            raise CheckpointError("a key statement's fields are non-empty single lines")
    return "".join(value + "\n" for value in fields).encode("utf-8")


def rotation_statement(origin: str, old_key: str, new_key: str, time: str) -> bytes:
    """The bytes the old key signs to hand over to ``new_key`` at the entry's ``time``."""
    return _lines(ROTATION_HEADER, origin, old_key, new_key, time)


def revocation_statement(origin: str, revoked_key: str, revoked_from: str, by_key: str, time: str) -> bytes:
    """The bytes the revoking key signs: ``revoked_key`` is not trusted from ``revoked_from`` on."""
    return _lines(REVOCATION_HEADER, origin, revoked_key, revoked_from, by_key, time)


def rotation_fields(old: NoteSigning, new: NoteVerifier, origin: str, time: str) -> dict[str, str]:
    """The fields of a ``ledger.key_rotated`` entry written at ``time`` (the entry's own ``time``)."""
    statement = rotation_statement(origin, old.verifier.to_key(), new.to_key(), time)
    return {"old_key": old.verifier.to_key(), "new_key": new.to_key(), "time": time,
            "statement_signature": base64.b64encode(old.sign(statement)).decode()}


def revocation_fields(by: NoteSigning, revoked: NoteVerifier, revoked_from: str, origin: str,
                      time: str) -> dict[str, str]:
    """The fields of a ``ledger.key_revoked`` entry written at ``time``, signed by the current key ``by``."""
    statement = revocation_statement(origin, revoked.to_key(), revoked_from, by.verifier.to_key(), time)
    return {"revoked_key": revoked.to_key(), "revoked_from": revoked_from, "by_key": by.verifier.to_key(),
            "time": time, "statement_signature": base64.b64encode(by.sign(statement)).decode()}


def _signature(entry: dict) -> bytes:
    try:
        return base64.b64decode(str(entry.get("statement_signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _timestamp(rfc3339: str) -> int:
    """POSIX seconds (rounded down) of an RFC 3339 time such as ``2026-11-30T12:00:00.5Z``."""
    match = _RFC3339.fullmatch(rfc3339)
    if match is None:
        raise CheckpointError(f"{rfc3339!r} is not an RFC 3339 time")
    return int(datetime.fromisoformat(match.group(1) + match.group(2).replace("Z", "+00:00")).timestamp())


@dataclass
class KeyHistory:
    """The checkpoint keys a verifier that pinned ``pinned`` trusts after reading the log in order.

    ``see(seq, entry_bytes)`` every entry the verified checkpoint covers (``verify_log`` does);
    then ``accept(note)`` says whether a checkpoint note is signed by a key followed to and not
    revoked. ``refused`` explains the rotations not followed (a statement the old key did not sign).
    """

    pinned: NoteVerifier
    origin: str | None = None
    keys: list[NoteVerifier] = field(default_factory=list)
    revoked: dict[NoteVerifier, str] = field(default_factory=dict)  # key -> revoked from (RFC 3339)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = [self.pinned]

    @property
    def current(self) -> NoteVerifier:
        """The last key followed to: pin it next time."""
        return self.keys[-1]

    def watch(self, entries: Iterable[bytes]) -> Iterator[bytes]:
        """Pass ``entries`` through, seeing those that rotate or revoke a key (a byte test, no parse)."""
        for seq, raw in enumerate(entries):
            if _PATTERNS[0] in raw or _PATTERNS[1] in raw:
                self.see(seq, raw)
            yield raw

    def see(self, seq: int, raw: bytes) -> None:
        try:
            entry = json.loads(raw)
        except ValueError:
            return  # the replay names the bad entry
        if not isinstance(entry, dict):
            return
        try:
            if entry.get("kind") == ROTATED_KIND:
                self._rotation(seq, entry)
            elif entry.get("kind") == REVOKED_KIND:
                self._revocation(entry)
        except CheckpointError as exc:
            self.refused.append(f"entry {seq}: {exc}")

    def _origin(self, entry: dict, key: NoteVerifier) -> str:
        # The checkpoint key is named by the log's origin (docs/ledger.md).
        return self.origin or key.name

    def _rotation(self, seq: int, entry: dict) -> None:
        old = NoteVerifier.from_key(str(entry.get("old_key")))
        if old not in self.keys:
            return  # a key this verifier never trusted (e.g. it pinned a later one)
        new = NoteVerifier.from_key(str(entry.get("new_key")))
        statement = rotation_statement(self._origin(entry, old), old.to_key(), new.to_key(), str(entry.get("time")))
        if not old.verify(statement, _signature(entry)):
            self.refused.append(f"entry {seq} announces a rotation to {new.to_key()}, but its statement is not "
                                f"signed by the old key {old.to_key()}: the new key is refused")
            return
        if new not in self.keys:
            self.keys.append(new)

    def _revocation(self, entry: dict) -> None:
        by = NoteVerifier.from_key(str(entry.get("by_key")))
        revoked = NoteVerifier.from_key(str(entry.get("revoked_key")))
        if by not in self.keys or by == revoked or revoked not in self.keys:
            return
        statement = revocation_statement(self._origin(entry, by), revoked.to_key(), str(entry.get("revoked_from")),
                                         by.to_key(), str(entry.get("time")))
        if by.verify(statement, _signature(entry)):
            self.revoked[revoked] = str(entry.get("revoked_from"))

    def accept(self, note: str, witnesses: Sequence[CosignatureVerifier] = (), *,
               revoked_ok: bool = False) -> NoteVerifier:
        """The trusted key that signed ``note``; raises KeyRotationError if none did.

        A key revoked from time T counts only if a witness in ``witnesses`` cosigned the note
        with a timestamp before T (the witness saw this checkpoint before the key was revoked),
        or with ``revoked_ok`` (a checkpoint whose root the entries were checked against anyway).
        """
        text, signatures = split_note(note)
        signers = [key for key in self.keys if signed_by(text, signatures, key)]
        for key in signers:
            if key not in self.revoked or revoked_ok:
                return key
        cosigned = verify_cosignatures(note, witnesses) if signers and witnesses else []
        for key in signers:
            cutoff = _timestamp(self.revoked[key])
            if any(cosignature.timestamp < cutoff for cosignature in cosigned):
                return key
        if signers:
            raise KeyRotationError(f"the checkpoint is signed only by {signers[0].to_key()}, revoked from "
                                   f"{self.revoked[signers[0]]} (a ledger.key_revoked entry), and no witness "
                                   "cosigned it before then")
        why = "; ".join(self.refused) or (
            "no ledger.key_rotated entry in the log hands over from it" if len(self.keys) == 1 else
            "nor by the keys it was rotated to: " + ", ".join(k.to_key() for k in self.keys[1:]))
        other = other_key_ids(signatures, self.keys)
        if other:  # the usual mistake: another install's key, of the same name
            raise KeyRotationError(f"the checkpoint is {key_mismatch(other, self.pinned)}; {why}")
        raise KeyRotationError(f"the checkpoint carries no signature by the pinned key {self.pinned.to_key()}: {why}")
