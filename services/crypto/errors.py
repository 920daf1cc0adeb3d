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


class KeyRevoked(SignatureInvalid):
    explanation = (
        "The signature is by a service key that was revoked before the signed issue time (after a "
        "compromise), so it was rejected: ask the service for the record again (docs/keys.md)."
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


class RecordKeyGone(DecryptionFailed):
    """The record's own key (record-keys/) is not there: the record was erased after this copy of
    the database was made, or its key was lost with the data directory (docs/operations.md)."""


class NotThisFetch(CryptoError):
    """A genuine package (signed by the service, for this recipient) that does not answer the
    fetch it came in: moved from another response, replayed, or released on other terms. Catch
    this to refuse them all; nothing of the package was used. Fetch again over a channel you
    trust (TLS) if it persists."""

    explanation = "The package does not answer this fetch, so nothing of it was used."


class WrongPurpose(NotThisFetch):
    explanation = "The package was released for another purpose than the one this fetch asked for."


class WrongFetchNonce(NotThisFetch):
    explanation = (
        "The package carries another fetch's nonce: it was taken from another response or replayed "
        "from an earlier one."
    )


class OutsideTimeWindow(NotThisFetch):
    explanation = (
        "The package's issue time is outside the accepted window around this client's clock (a "
        "stale or held-back package, or a clock out of step)."
    )


class WrongPatient(NotThisFetch):
    explanation = (
        "The package is bound to another patient (or research subject) than the one this fetch "
        "named, for example a package moved from another patient's response."
    )


class ReplayedShare(NotThisFetch):
    explanation = "This client has already received a package with this share id, so the repeat was refused."


class ResponseMismatch(NotThisFetch):
    explanation = (
        "The signed header does not match the response it came in or what the fetch asked for "
        "(record, category or ledger entry)."
    )


class UnknownKek(CryptoError):
    explanation = (
        "The wrapped key names a key-encryption key this provider does not hold (retired or not "
        "configured), so it cannot be unwrapped."
    )
