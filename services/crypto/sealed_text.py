"""Short texts of someone's choosing (a correction's reason in the patient's words, a refusal's
explanation) kept at rest as record bodies are: sealed under their own data key, wrapped by the
KEK, bound to where they belong (`context`), so that a database dump shows none of them. KEK
rotation rewraps them with the records (kek_rotation.py), and a KEK still wrapping one is not
retired.

Format, version 1::

    blob = 0x01 | len(wrapped_key): 2, big-endian | wrapped_key | at_rest ciphertext
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from consentry.services.store.models import RightsRequest

from .at_rest import SealedRecord, open_text_body, rewrap_record, seal_text_body
from .errors import MalformedPackage, UnsupportedVersion
from .kek import KeyEncryptionKeyProvider, needs_rewrap, wrapped_key_id

TEXT_VERSION = 1
# The sealed texts of a rights request, by column; each is bound to its request and column.
_COLUMNS = ("correction_text", "explanation")


def request_context(request_id: str, column: str) -> str:
    return f"rights-request/{request_id}/{column}"


def seal_text(context: str, text: str, kek: KeyEncryptionKeyProvider) -> bytes:
    sealed = seal_text_body(context, text.encode("utf-8"), kek)
    return _blob(sealed.wrapped_key, sealed.ciphertext)


def open_text(context: str, blob: bytes, kek: KeyEncryptionKeyProvider) -> str:
    wrapped, ciphertext = _parts(blob)
    return open_text_body(context, SealedRecord(ciphertext, wrapped, wrapped_key_id(wrapped)), kek).decode("utf-8")


def kek_of(blob: bytes) -> str:
    """The id of the KEK that wraps a sealed text's data key."""
    return wrapped_key_id(_parts(blob)[0])


def usage_by_kek(s: Session) -> Counter[str]:
    """kek id -> how many sealed texts it wraps."""
    used: Counter[str] = Counter()
    for row in s.query(RightsRequest).filter(RightsRequest.correction_text.is_not(None)
                                             | RightsRequest.explanation.is_not(None)):
        for column in _COLUMNS:
            blob = getattr(row, column)
            if blob is not None:
                used[wrapped_key_id(_parts(blob)[0])] += 1
    return used


def rewrap_texts(s: Session, kek: KeyEncryptionKeyProvider, *, reseal: bool = False) -> int:
    """Moves every sealed text to the current KEK in the caller's transaction (with ``reseal``,
    under a fresh data key); returns how many."""
    moved = 0
    for row in s.query(RightsRequest).filter(RightsRequest.correction_text.is_not(None)
                                             | RightsRequest.explanation.is_not(None)):
        for column in _COLUMNS:
            blob = getattr(row, column)
            if blob is None:
                continue
            wrapped, ciphertext = _parts(blob)
            if not needs_rewrap(wrapped, kek):
                continue
            context = request_context(row.request_id, column)
            sealed = SealedRecord(ciphertext, wrapped, wrapped_key_id(wrapped))
            if reseal:
                sealed = seal_text_body(context, open_text_body(context, sealed, kek), kek)
            else:
                sealed = rewrap_record(context, sealed, kek, kek)
            setattr(row, column, _blob(sealed.wrapped_key, sealed.ciphertext))
            moved += 1
    return moved


def _blob(wrapped: bytes, ciphertext: bytes) -> bytes:
    return bytes([TEXT_VERSION]) + len(wrapped).to_bytes(2, "big") + wrapped + ciphertext


def _parts(blob: bytes) -> tuple[bytes, bytes]:
    if not blob or blob[0] != TEXT_VERSION:
        raise UnsupportedVersion("sealed text version")
    if len(blob) < 3:
        raise MalformedPackage("sealed text is truncated")
    size = int.from_bytes(blob[1:3], "big")
    return blob[3:3 + size], blob[3 + size:]
