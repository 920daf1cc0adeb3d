"""The exceptions every crypto module in consentry.services raises.

One small tree so callers can catch ``CryptoError`` at the boundary (and fail closed) while tests
and the client SDK can tell *why* something was refused. Each class carries a one-sentence
``explanation``; an optional ``detail`` adds context such as a file path or a field name.

Rule for every raise site: the message never contains plaintext, key material or ciphertext —
only names, lengths, ids and modes — because these messages end up in logs and gRPC statuses.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class: something cryptographic was refused; nothing was disclosed."""

    explanation = "A cryptographic check failed, so the operation was refused."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        message = self.explanation if not detail else f"{self.explanation} ({detail})"
        super().__init__(message)


class KeyFileError(CryptoError):
    explanation = "A key file is missing, malformed, or has unsafe permissions, so it was not used."


class UnsupportedVersion(CryptoError):
    explanation = "The data names a format version this code does not implement, so it was not read."


class MalformedPackage(CryptoError):
    explanation = "The data does not have the documented layout, so it was rejected before use."


class SignatureInvalid(CryptoError):
    explanation = (
        "The signature does not verify under the pinned service key, so the package was rejected "
        "unread (it was altered, truncated, or signed by someone else)."
    )


class WrongRecipient(CryptoError):
    explanation = "The package is addressed to a different recipient, so it was not opened."


class WrongRecipientKey(WrongRecipient):
    explanation = (
        "The package was sealed to a different key than the one supplied (for example a key from "
        "before a rotation), so it was not opened."
    )


class DecryptionFailed(CryptoError):
    explanation = (
        "Authenticated decryption failed: wrong key, wrong context (AAD), or altered ciphertext."
    )


class UnknownKek(CryptoError):
    explanation = (
        "The wrapped key names a key-encryption key this provider does not hold (retired or not "
        "configured), so it cannot be unwrapped."
    )
