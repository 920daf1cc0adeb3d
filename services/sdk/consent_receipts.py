"""Checking a consent receipt offline: what the patient and the grantee keep of every consent
change (docs/receipts.md).

    receipt = client.consent.GrantConsent(request).receipt
    statement = verify_consent_receipt(receipt, service_key)   # raises ReceiptInvalid
    statement["terms"], statement["ledger"]["seq"], statement["ledger"]["leaf_hash"]

`service_key` is the service's share-signing key (RegistryService.GetServiceKeys), pinned out of
band as for share packages. The receipt's ledger position is proved separately, with an inclusion
proof of its seq against a signed checkpoint (`check_receipt_in_ledger`).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from nacl.signing import VerifyKey

from consentry.ledger.errors import LedgerError
from consentry.ledger.merkle import verify_inclusion
from consentry.services.crypto.key_chain import KeyChain
from consentry.services.crypto.receipts import ReceiptInvalid, verify_statement
from consentry.v1 import consent_pb2 as pb

__all__ = ["ReceiptInvalid", "check_receipt_in_ledger", "receipt_of", "verify_consent_receipt"]

CHANGES = ("grant", "approval", "import", "narrowing", "revocation")
_MEMBERS = {"format", "key_id", "change", "consent_id", "version", "patient_id", "grantee", "signed_by",
            "authorization", "request_id", "terms", "notice", "time", "ledger"}


def verify_consent_receipt(receipt: pb.ConsentReceipt, service_key: VerifyKey | bytes | KeyChain) -> dict[str, Any]:
    """The receipt's statement once it verifies under `service_key` (32 bytes, or a VerifyKey) and
    holds exactly the members of format consentry-consent-receipt/1; raises ReceiptInvalid."""
    if not receipt.statement or not receipt.signature:
        raise ReceiptInvalid("the response carries no receipt")
    key = service_key if isinstance(service_key, (VerifyKey, KeyChain)) else VerifyKey(bytes(service_key))
    statement = verify_statement(receipt.statement, receipt.signature, receipt.key_id, key)
    if set(statement) != _MEMBERS or statement["change"] not in CHANGES:
        raise ReceiptInvalid("the receipt's statement does not have the members of its format")
    ledger = statement["ledger"]
    if not (isinstance(ledger, dict) and isinstance(ledger.get("seq"), int)
            and isinstance(ledger.get("leaf_hash"), str) and len(ledger["leaf_hash"]) == 64):
        raise ReceiptInvalid("the receipt's ledger position is malformed")
    return statement


def receipt_of(response: Message, service_key: VerifyKey | bytes | KeyChain) -> dict[str, Any]:
    """The verified receipt of a consent change's response (GrantConsent, ImportConsent,
    ApproveAccessRequest, NarrowConsent, RevokeConsent), checked to state the consent version
    the response returns."""
    statement = verify_consent_receipt(response.receipt, service_key)  # type: ignore[attr-defined]
    consent = response.consent  # type: ignore[attr-defined]
    if (statement["consent_id"], statement["version"], statement["grantee"]) != (
            consent.consent_id, consent.version, consent.grantee):
        raise ReceiptInvalid("the receipt states another consent version than the response returns")
    return statement


def check_receipt_in_ledger(statement: dict[str, Any], proof: Any, root: bytes) -> None:
    """The receipt's ledger position is in the tree of `root` (a signed checkpoint's): `proof` is
    AuditService.GetInclusionProof's answer for the receipt's seq; raises ReceiptInvalid."""
    leaf = bytes.fromhex(statement["ledger"]["leaf_hash"])
    if proof.seq != statement["ledger"]["seq"] or bytes(proof.leaf_hash) != leaf:
        raise ReceiptInvalid("the inclusion proof is not for the receipt's ledger entry")
    try:
        verify_inclusion(leaf, proof.seq, proof.tree_size, list(proof.hashes), root)
    except LedgerError as exc:
        raise ReceiptInvalid(f"the receipt's entry is not in the ledger: {exc}") from exc
