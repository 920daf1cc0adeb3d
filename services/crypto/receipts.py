"""Consent receipts: a consent change stated by the service and signed with its share-signing key.

docs/receipts.md is the normative description; keep the two in step. In short::

    statement = RFC 8785 canonical JSON object, "format": "consentry-consent-receipt/1"
    signature = Ed25519(service key, b"consentry-consent-receipt/1" 0x00 | statement)
    key_id    = "ed25519:" + hex(SHA-256(b"consentry-ed25519-v1" | public key))[:16]

The prefix separates receipts from everything else the same key signs (share packages sign
b"consentry-share-vN" 0x00 | three hashes), so no signature of one kind can pass for the other.
Ed25519 is deterministic: signing one statement twice yields the same bytes, so a receipt
re-derived later (ListConsentReceipts, an idempotent retry) is byte-identical to the first.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import nacl.exceptions
import nacl.signing

from consentry.ledger.canonical import canonical_json
from consentry.ledger.errors import LedgerError
from consentry.services.signer import Ed25519Signer

from .errors import KeyRevoked
from .key_chain import KeyChain, as_chain, parse_instant

FORMAT = "consentry-consent-receipt/1"
SIGNATURE_DOMAIN = FORMAT.encode("ascii") + b"\x00"


class ReceiptInvalid(Exception):
    """A receipt that does not verify; the message names the first check that failed."""


def key_id(public_key: bytes) -> str:
    """The key's id, as identity keys are named (docs/identity.md): stable across a rotation's
    overlap, so a verifier holding several service keys picks the one a receipt names."""
    return "ed25519:" + hashlib.sha256(b"consentry-ed25519-v1" + bytes(public_key)).hexdigest()[:16]


def sign_statement(statement: dict[str, Any], signer: Ed25519Signer) -> tuple[bytes, bytes, str]:
    """(statement bytes, signature, key id) for a statement dict carrying FORMAT."""
    if statement.get("format") != FORMAT:
        raise ValueError(f"a receipt statement carries format {FORMAT}")
    data = canonical_json(statement)
    signature = signer.sign(SIGNATURE_DOMAIN + data).signature
    return data, signature, key_id(bytes(signer.verify_key))


def verify_statement(statement: bytes, signature: bytes, receipt_key_id: str,
                     service_key: KeyChain | nacl.signing.VerifyKey) -> dict[str, Any]:
    """The statement, once the key id names the service key (or a key of the chain followed from
    the pinned one), the signature verifies, the bytes are one canonical JSON object of this
    format and the key was not revoked before the statement's time; raises ReceiptInvalid."""
    signer = next((k for k in as_chain(service_key).keys if key_id(k.public_key) == receipt_key_id), None)
    if signer is None:
        raise ReceiptInvalid("the receipt names another signing key than the service key given")
    try:
        nacl.signing.VerifyKey(signer.public_key).verify(SIGNATURE_DOMAIN + bytes(statement), bytes(signature))
    except (nacl.exceptions.BadSignatureError, ValueError) as exc:
        raise ReceiptInvalid("the receipt's signature does not verify under the service key") from exc
    try:
        parsed = json.loads(statement)
        canonical = isinstance(parsed, dict) and canonical_json(parsed) == bytes(statement)
    except (ValueError, LedgerError) as exc:
        raise ReceiptInvalid("the receipt's statement is not JSON") from exc
    if not canonical:
        raise ReceiptInvalid("the receipt's statement is not one canonical JSON object")
    if parsed.get("format") != FORMAT:
        raise ReceiptInvalid(f"the receipt's format is not {FORMAT}")
    if parsed.get("key_id") != receipt_key_id:
        raise ReceiptInvalid("the receipt's statement names another key than its key_id")
    try:
        signer.check_issued(parse_instant(str(parsed.get("time"))))
    except ValueError as exc:
        raise ReceiptInvalid("the receipt's time is malformed") from exc
    except KeyRevoked as exc:
        raise ReceiptInvalid(f"the receipt was signed by a revoked service key: {exc.detail}") from exc
    return parsed
