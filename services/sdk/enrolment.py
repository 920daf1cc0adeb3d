"""Redeeming an enrolment code (docs/identity.md, "Enrolment codes"): the new device proves it
holds the identity key it registers by signing the code with it. The call carries no token."""

from __future__ import annotations

from nacl.signing import SigningKey

from consentry.v1 import registry_pb2 as pb
from consentry.v1 import registry_pb2_grpc

PROOF_LABEL = b"consentry/enrolment-code/v1"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def normalised(code: str) -> str:
    """The code as it is signed: upper case, no '-' or spaces, I and L read as 1, O as 0."""
    text = code.upper().replace("-", "").replace(" ", "").translate(str.maketrans("ILO", "110"))
    if len(text) != 12 or any(c not in _ALPHABET for c in text):
        raise ValueError("an enrolment code is 12 characters of Crockford base32, e.g. 7K2M-Q9XD-4TFA")
    return text


def proof(code: str, key: SigningKey) -> bytes:
    """The new key's Ed25519 signature over label || 0x00 || normalised code || 0x00 || public key."""
    public = bytes(key.verify_key)
    return key.sign(b"\x00".join([PROOF_LABEL, normalised(code).encode("ascii"), public])).signature


def redeem_request(code: str, key: SigningKey) -> pb.RedeemEnrolmentCodeRequest:
    return pb.RedeemEnrolmentCodeRequest(code=code, identity_public_key=bytes(key.verify_key), proof=proof(code, key))


def redeem(registry: registry_pb2_grpc.RegistryServiceStub, code: str, key: SigningKey,
           timeout_s: float = 30.0) -> pb.RedeemEnrolmentCodeResponse:
    """Redeems the code over `registry` (any channel; the call needs no token)."""
    return registry.RedeemEnrolmentCode(redeem_request(code, key), timeout=timeout_s)
