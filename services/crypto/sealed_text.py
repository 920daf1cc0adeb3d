"""Short texts of someone's choosing (a correction's reason in the patient's words, a refusal's
explanation) kept at rest as record bodies are: sealed under their own data key, wrapped by the
KEK, bound to where they belong (`context`), so that a database dump shows none of them.

Format, version 1::

    blob = 0x01 | len(wrapped_key): 2, big-endian | wrapped_key | at_rest ciphertext
"""

from __future__ import annotations

from .at_rest import SealedRecord, open_record, seal_record
from .errors import MalformedPackage, UnsupportedVersion
from .kek import KeyEncryptionKeyProvider, wrapped_key_id

TEXT_VERSION = 1


def seal_text(context: str, text: str, kek: KeyEncryptionKeyProvider) -> bytes:
    sealed = seal_record(context, text.encode("utf-8"), kek)
    return bytes([TEXT_VERSION]) + len(sealed.wrapped_key).to_bytes(2, "big") + sealed.wrapped_key + sealed.ciphertext


def open_text(context: str, blob: bytes, kek: KeyEncryptionKeyProvider) -> str:
    if not blob or blob[0] != TEXT_VERSION:
        raise UnsupportedVersion("sealed text version")
    if len(blob) < 3:
        raise MalformedPackage("sealed text is truncated")
    size = int.from_bytes(blob[1:3], "big")
    wrapped, ciphertext = blob[3:3 + size], blob[3 + size:]
    return open_record(context, SealedRecord(ciphertext, wrapped, wrapped_key_id(wrapped)), kek).decode("utf-8")
